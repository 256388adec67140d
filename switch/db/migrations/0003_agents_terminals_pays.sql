-- Agents (shop owners), their e-POS terminals, and the pays those terminals make.

CREATE SEQUENCE agent_no;
CREATE TABLE agents (
    id text PRIMARY KEY,                      -- 'AG000001'
    name text NOT NULL,
    mobile text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    fps_id text NOT NULL UNIQUE,
    wallet_account_id bigint NOT NULL UNIQUE REFERENCES accounts (id),
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE terminal_no;
CREATE TABLE terminals (
    id text PRIMARY KEY,                      -- 'T00000001'
    agent_id text NOT NULL REFERENCES agents (id),
    public_key bytea NOT NULL CHECK (length(public_key) = 32),  -- Ed25519; never the private key
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked')),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz
);
CREATE INDEX terminals_agent ON terminals (agent_id);

-- A pay, from the terminal's request to its final state. `id` is the switch txn id.
-- States (docs/pay.md): received -> sent -> posted | voided | unknown -> posted | voided
--                       received -> voided  (declined: nothing could be reserved)
--                       (reserved, confirmed, rejected: explicit intermediate moments)
-- A pay ends posted or voided, exactly once.
CREATE TABLE pays (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminal_id text NOT NULL,
    terminal_ref text NOT NULL,
    agent_id text NOT NULL,
    biller_id text NOT NULL,
    consumer_account text NOT NULL,
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    mobile text,
    state text NOT NULL CHECK (state IN ('received', 'reserved', 'sent', 'confirmed',
                                         'rejected', 'unknown', 'posted', 'voided')),
    error_code text,
    biller_txn_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (terminal_id, terminal_ref)
);
CREATE INDEX pays_agent_created ON pays (agent_id, created_at);
CREATE INDEX pays_open ON pays (updated_at) WHERE state NOT IN ('posted', 'voided');

-- The allowed moves, checked by the database too (a WHEN clause: PL/pgSQL runs only
-- to refuse). A final pay never changes again.
CREATE TRIGGER pays_transition BEFORE UPDATE ON pays FOR EACH ROW
    WHEN (NEW.id <> OLD.id OR NEW.terminal_id <> OLD.terminal_id
          OR NEW.terminal_ref <> OLD.terminal_ref OR NEW.amount_paise <> OLD.amount_paise
          OR NEW.consumer_account <> OLD.consumer_account OR NEW.biller_id <> OLD.biller_id
          OR NOT (
             (OLD.state = NEW.state AND OLD.state NOT IN ('posted', 'voided'))
          OR (OLD.state, NEW.state) IN (
             ('received', 'reserved'), ('received', 'sent'), ('received', 'voided'),
             ('reserved', 'sent'), ('reserved', 'voided'),
             ('sent', 'confirmed'), ('sent', 'rejected'), ('sent', 'unknown'),
             ('sent', 'posted'), ('sent', 'voided'),
             ('unknown', 'confirmed'), ('unknown', 'rejected'), ('unknown', 'posted'),
             ('unknown', 'voided'),
             ('confirmed', 'posted'), ('rejected', 'voided'))))
    EXECUTE FUNCTION ledger_refuse('illegal pay state change');
CREATE TRIGGER pays_no_delete BEFORE DELETE OR TRUNCATE ON pays FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_refuse('pays are never deleted');
