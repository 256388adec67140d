-- SMS as registered templates in English and Hindi (switch/sms/templates.py).
-- Each message records the template it was made from and its language; each pay
-- records the language its SMS is written in, chosen when the pay is made: the
-- request's own, else the consumer's choice, else the terminal's, else English.

ALTER TABLE sms_outbox ADD COLUMN template_id text;
ALTER TABLE sms_outbox ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'hi'));

ALTER TABLE terminals ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'hi'));

ALTER TABLE pays ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'hi'));

-- A consumer's own language, by mobile (set on the consumer pages).
CREATE TABLE consumer_languages (
    mobile text PRIMARY KEY CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    language text NOT NULL CHECK (language IN ('en', 'hi')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
