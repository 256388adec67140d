-- Settlement, reconciliation and MIS (docs/settlement.md).
--
-- A settlement window is one biller's business day: every pay created in
-- [starts_at, ends_at) belongs to it. A window is open until its cut-off has passed
-- and all its pays are final; then it is closed (a snapshot of its pays, with the
-- commission and fee of each, is taken) and settled (the ledger transfers that pay
-- the biller, the agents' commissions and the switch's fees, in the same database
-- transaction that marks it settled). Nothing here is ever deleted.

-- Agents belong to a district of a region (MIS reports by hierarchy).
ALTER TABLE agents ADD COLUMN region text NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN district text NOT NULL DEFAULT '';

-- What a biller owes the switch: refunds already paid to agents for payments the
-- biller never kept, recovered from the biller's next settlements. May go negative
-- (an asset, in a ledger whose balances are credits minus debits).
INSERT INTO account_kinds VALUES
    ('receivable', true, 'what a biller owes the switch (refunds not yet recovered)');

CREATE TABLE settlement_windows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    biller_id text NOT NULL,
    business_date date NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('closed', 'settled')),
    pay_count integer NOT NULL,
    gross_paise bigint NOT NULL,          -- posted pays of the window
    adjust_in_paise bigint NOT NULL,      -- force-posts from reconciliation since the last window
    commission_paise bigint NOT NULL,     -- to agents' wallets
    fee_paise bigint NOT NULL,            -- to the switch
    recovered_paise bigint NOT NULL,      -- refunds recovered from the biller
    net_paise bigint NOT NULL,            -- paid out to the biller's bank
    closed_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    file_sha256 text,
    UNIQUE (biller_id, business_date),
    CHECK (ends_at > starts_at),
    CHECK (net_paise >= 0),
    CHECK (gross_paise + adjust_in_paise
           = commission_paise + fee_paise + recovered_paise + net_paise),
    CHECK ((state = 'settled') = (settled_at IS NOT NULL))
);

-- One row per posted pay of a closed window: the amounts as settled, frozen (a later
-- change of a biller's commission rate never rewrites a settled day).
CREATE TABLE settlement_items (
    window_id bigint NOT NULL REFERENCES settlement_windows (id),
    pay_id bigint NOT NULL UNIQUE REFERENCES pays (id),
    agent_id text NOT NULL,
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    commission_paise bigint NOT NULL CHECK (commission_paise >= 0),
    fee_paise bigint NOT NULL CHECK (fee_paise >= 0),
    CHECK (commission_paise + fee_paise <= amount_paise),
    PRIMARY KEY (window_id, pay_id)
);

-- Money moved by resolving a reconciliation case, to be netted at the biller's next
-- settlement: a force-post puts money into the biller's payable, a refund takes it
-- from the biller's receivable. window_id is set when a settlement takes it in.
CREATE TABLE settlement_adjustments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    biller_id text NOT NULL,
    case_id bigint NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('force_post', 'refund')),
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    window_id bigint REFERENCES settlement_windows (id)
);
CREATE INDEX settlement_adjustments_open ON settlement_adjustments (biller_id)
    WHERE window_id IS NULL;

-- Reconciliation: one run per window (re-runs update it), cases for every break.
CREATE TABLE recon_runs (
    biller_id text NOT NULL,
    business_date date NOT NULL,
    ran_at timestamptz NOT NULL DEFAULT now(),
    matched integer NOT NULL,
    missing_at_biller integer NOT NULL,
    missing_at_switch integer NOT NULL,
    amount_mismatch integer NOT NULL,
    success_after_reversal integer NOT NULL,
    PRIMARY KEY (biller_id, business_date)
);

ALTER TABLE recon_cases ADD COLUMN business_date date;
ALTER TABLE recon_cases ADD COLUMN biller_txn_id text;
ALTER TABLE recon_cases ADD COLUMN biller_amount_paise bigint;
ALTER TABLE recon_cases ADD COLUMN resolution text
    CHECK (resolution IN ('refund_agent', 'force_post', 'no_money'));
ALTER TABLE recon_cases ADD COLUMN resolved_by text;
ALTER TABLE recon_cases ADD COLUMN resolved_at timestamptz;
ALTER TABLE recon_cases ADD COLUMN note text;
ALTER TABLE recon_cases ADD CONSTRAINT recon_cases_resolved
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL AND resolution IS NOT NULL));
-- A payment the switch never had has no pay id: it is known by the biller's txn id.
CREATE UNIQUE INDEX recon_cases_biller_txn ON recon_cases (kind, biller_id, biller_txn_id)
    WHERE pay_id IS NULL;
CREATE TRIGGER recon_cases_no_delete BEFORE DELETE OR TRUNCATE ON recon_cases
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('reconciliation cases are never deleted');
-- Resolved is final.
CREATE TRIGGER recon_cases_final BEFORE UPDATE ON recon_cases FOR EACH ROW
    WHEN (OLD.state = 'resolved')
    EXECUTE FUNCTION ledger_refuse('a resolved case never changes');

-- The audit log: who did what, when, and the object before and after. Append-only,
-- enforced here (no update, no delete), so no API can alter it.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL CHECK (actor <> ''),
    action text NOT NULL,
    object_kind text NOT NULL,
    object_id text NOT NULL,
    before jsonb,
    after jsonb
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('the audit log is append-only');

-- MIS: pays by biller and day, and by agent and day.
CREATE INDEX pays_biller_created ON pays (biller_id, created_at);
