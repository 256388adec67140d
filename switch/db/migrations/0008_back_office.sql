-- Back office (docs/admin-api.md): staff and agent logins, KYC onboarding with
-- documents, wallet limits, complaints. Every sensitive action is also written to
-- audit_log (migration 0007), in the same transaction.

-- SMS is not only for pays: one-time codes and credentials go through the outbox too.
ALTER TABLE sms_outbox ALTER COLUMN pay_id DROP NOT NULL;

-- Logins. Staff have one role each; an agent's login sees only its own agent.
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,39}$'),
    role text NOT NULL CHECK (role IN ('onboarding', 'finance', 'operations', 'support',
                                       'auditor', 'admin', 'agent')),
    agent_id text REFERENCES agents (id),
    mobile text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    password_hash text NOT NULL,            -- argon2id (memory-hard)
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'agent') = (agent_id IS NOT NULL))
);

-- Bearer tokens: only their SHA-256 is stored; each expires.
CREATE TABLE user_tokens (
    token_sha256 bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- Password reset by a one-time code sent by SMS (its argon2 hash is stored).
CREATE TABLE password_resets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    code_hash text NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Agents go through KYC: pending_kyc -> approved -> active -> blocked | closed.
ALTER TABLE agents DROP CONSTRAINT agents_state_check;
ALTER TABLE agents ADD CONSTRAINT agents_state_check
    CHECK (state IN ('pending_kyc', 'approved', 'active', 'blocked', 'closed'));

CREATE TABLE agent_kyc (
    agent_id text PRIMARY KEY REFERENCES agents (id),
    email text NOT NULL,
    date_of_birth date NOT NULL,
    pan text NOT NULL UNIQUE CHECK (pan ~ '^[A-Z]{5}[0-9]{4}[A-Z]$'),
    gstin text CHECK (gstin ~ '^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]$'),
    bank_account text NOT NULL CHECK (bank_account ~ '^[0-9]{9,18}$'),
    ifsc text NOT NULL CHECK (ifsc ~ '^[A-Z]{4}0[A-Z0-9]{6}$'),
    residential_address text NOT NULL,
    shop_address text NOT NULL,
    submitted_by text NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    approved_by text,
    approved_at timestamptz,
    -- Four eyes: whoever entered the KYC cannot be the one who approves it.
    CHECK (approved_by IS NULL OR approved_by <> submitted_by),
    CHECK ((approved_by IS NULL) = (approved_at IS NULL))
);

CREATE TABLE agent_documents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id text NOT NULL REFERENCES agents (id),
    kind text NOT NULL CHECK (kind IN ('photo', 'pan_card', 'address_proof', 'bank_proof',
                                       'shop_photo', 'deposit_slip', 'other')),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png',
                                                       'application/pdf')),
    size_bytes integer NOT NULL CHECK (size_bytes > 0),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_documents_agent ON agent_documents (agent_id);

-- Wallet limits and freeze, per agent (no row: the configured defaults).
CREATE TABLE wallet_limits (
    agent_id text PRIMARY KEY REFERENCES agents (id),
    max_balance_paise bigint NOT NULL CHECK (max_balance_paise > 0),
    per_txn_paise bigint NOT NULL CHECK (per_txn_paise > 0),
    per_day_paise bigint NOT NULL CHECK (per_day_paise > 0),
    frozen boolean NOT NULL DEFAULT false,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Complaints (grievance redressal): logged -> assigned -> escalated -> resolved -> closed.
CREATE TABLE complaints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('transaction', 'service')),
    category text NOT NULL,
    pay_id bigint REFERENCES pays (id),
    agent_id text REFERENCES agents (id),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    state text NOT NULL DEFAULT 'logged'
        CHECK (state IN ('logged', 'assigned', 'escalated', 'resolved', 'closed')),
    raised_by text NOT NULL,
    assigned_to text,
    escalations integer NOT NULL DEFAULT 0,
    due_at timestamptz NOT NULL,
    resolution text,
    refund_paise bigint CHECK (refund_paise > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'transaction') = (pay_id IS NOT NULL))
);
CREATE INDEX complaints_open_due ON complaints (due_at) WHERE state IN ('logged', 'assigned', 'escalated');
CREATE INDEX complaints_agent ON complaints (agent_id);

CREATE TABLE complaint_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES complaints (id),
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    from_state text,
    to_state text NOT NULL,
    note text
);
CREATE TRIGGER complaint_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON complaint_events FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_refuse('complaint history is append-only');

-- Transaction search (by biller txn id, consumer account, terminal reference).
CREATE INDEX pays_biller_txn ON pays (biller_txn_id) WHERE biller_txn_id IS NOT NULL;
CREATE INDEX pays_consumer ON pays (consumer_account, created_at);
CREATE INDEX pays_created ON pays (created_at);
