-- Partners: banks, the post office and aggregators paying bills through the partner
-- API (/partner/v1). A partner is a row of `agents` of kind 'partner': its prefunded
-- account is a wallet in the ledger, with the same limits, freeze, top-ups, holds,
-- settlement and complaints as an agent's. It has no FPS id and no KYC of a shop;
-- it signs its requests with an Ed25519 key whose public half is kept here.
ALTER TABLE agents ADD COLUMN kind text NOT NULL DEFAULT 'agent'
    CHECK (kind IN ('agent', 'partner'));
ALTER TABLE agents ADD COLUMN institution text
    CHECK (institution IN ('bank', 'post_office', 'aggregator'));
ALTER TABLE agents ADD CONSTRAINT agents_institution_of_partners
    CHECK ((kind = 'partner') = (institution IS NOT NULL));
ALTER TABLE agents ALTER COLUMN fps_id DROP NOT NULL;
ALTER TABLE agents ADD CONSTRAINT agents_fps_id_of_agents
    CHECK (kind = 'partner' OR fps_id IS NOT NULL);
CREATE SEQUENCE partner_no;

-- A partner's signing keys: several may be active at once, so a partner can roll to
-- a new key without a moment where neither works. A revoked key never comes back.
CREATE TABLE partner_keys (
    key_id     text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    partner_id text NOT NULL REFERENCES agents (id),
    public_key bytea NOT NULL CHECK (length(public_key) = 32),  -- never the private key
    state      text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX partner_keys_partner ON partner_keys (partner_id);

-- Each signed request's nonce, per key, kept while its timestamp could still be
-- accepted: a second request with the same (key, nonce) is a replay and is refused.
CREATE TABLE partner_nonces (
    key_id  text NOT NULL,
    nonce   text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX partner_nonces_seen ON partner_nonces (seen_at);

-- The way each pay came in. Every pay before this migration came from a terminal.
-- For a partner's pay, terminal_id holds the partner's id and terminal_ref the
-- partner's idempotency key: (partner, key) names the pay exactly as (terminal, ref).
ALTER TABLE pays ADD COLUMN channel text NOT NULL DEFAULT 'terminal'
    CHECK (channel IN ('terminal', 'partner'));
CREATE TRIGGER pays_channel_immutable BEFORE UPDATE ON pays FOR EACH ROW
    WHEN (NEW.channel <> OLD.channel)
    EXECUTE FUNCTION ledger_refuse('a pay''s channel never changes');

-- A complaint raised through the partner API carries the partner's idempotency key:
-- the same key raises it once.
ALTER TABLE complaints ADD COLUMN partner_ref text
    CHECK (partner_ref IS NULL OR partner_ref ~ '^[A-Za-z0-9_-]{1,32}$');
CREATE UNIQUE INDEX complaints_partner_ref ON complaints (agent_id, partner_ref)
    WHERE partner_ref IS NOT NULL;
