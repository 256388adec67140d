-- The consumer pages (/me): a consumer signs in with their account and mobile and a
-- one-time code sent to that mobile by SMS. Every request for a code is a row (sent or
-- not), so the hourly limits count every request alike; a code is kept only as an
-- HMAC, and is spent by its first right guess or its last wrong one.
CREATE TABLE consumer_codes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    biller_id    text NOT NULL,
    consumer_account text NOT NULL,
    mobile       text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    ip           text NOT NULL,
    code_hash    text,                  -- NULL: no code was sent (an unknown mobile)
    guesses      integer NOT NULL DEFAULT 0 CHECK (guesses >= 0),
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'used', 'spent')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consumer_codes_mobile ON consumer_codes (mobile, created_at);
CREATE INDEX consumer_codes_ip ON consumer_codes (ip, created_at);

-- A consumer's open complaints are counted at each new one (at most a few open).
CREATE INDEX complaints_open_by ON complaints (raised_by)
    WHERE state NOT IN ('resolved', 'closed');
