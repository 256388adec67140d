-- SMS to the depositor, through a durable outbox (docs/pay.md, "Notifications").
-- A row is written in the same statement that makes a pay final, so an SMS can never
-- be lost between "paid" and "told"; the notifier delivers rows asynchronously with
-- retries, and the gateway is idempotent on the message id.

CREATE TABLE sms_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pay_id bigint NOT NULL UNIQUE,     -- one message per pay
    mobile text NOT NULL,
    body text NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state = 'pending';
