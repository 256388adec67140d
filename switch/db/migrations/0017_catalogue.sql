-- The biller catalogue in the database: every switch process writes the entries of
-- its configuration at start (the same configuration gives the same rows), so the
-- back office and the API read what terminals are told. The version is a digest of
-- all the entries; it is the same on every row of one catalogue.
CREATE TABLE biller_catalogue (
    biller_id  text PRIMARY KEY,
    entry      jsonb NOT NULL,
    version    text NOT NULL CHECK (version ~ '^[0-9a-f]{16}$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A pay's customer parameters beyond the account (the catalogue's), as the terminal
-- sent them: {"mobile": "98..."}. NULL: none (every pay before this migration).
ALTER TABLE pays ADD COLUMN consumer_params jsonb
    CHECK (consumer_params IS NULL OR jsonb_typeof(consumer_params) = 'object');
