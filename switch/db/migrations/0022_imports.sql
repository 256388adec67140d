-- Bulk imports and legacy migration (switch/imports/): every run of a file is a row
-- here with its protocol of transfer (what was read, accepted, rejected, already
-- present; control totals; the file's SHA-256), and each rejected row is kept with its
-- line, column and reason. A run writes in chunks; `position` (data rows done) moves
-- in the same transaction as each chunk's rows, so a run killed mid-file resumes
-- exactly where its last chunk committed.

-- Opening balances come from a legacy system through this suspense account: after an
-- import its balance is minus the total brought in.
INSERT INTO account_kinds VALUES
    ('migration', true, 'opening balances brought in from a legacy system');
INSERT INTO accounts (kind, code, name, may_go_negative) VALUES
    ('migration', 'system:migration', 'Legacy migration suspense', true);

CREATE TABLE import_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity        text NOT NULL CHECK (entity IN ('agents', 'balances', 'topups', 'history',
                                              'consumers', 'complaints', 'terminals')),
    file_name     text NOT NULL,
    file_sha256   text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_bytes    bigint NOT NULL,
    source_path   text,                       -- where an uploaded file is kept while it runs
    mapping       jsonb NOT NULL,
    dry_run       boolean NOT NULL,
    approved      boolean NOT NULL DEFAULT false,  -- agents: the legacy system approved them
    state         text NOT NULL DEFAULT 'checking'
        CHECK (state IN ('checking', 'writing', 'done', 'refused')),
    refusal       text,
    position      bigint NOT NULL DEFAULT 0,   -- data rows whose chunk has committed
    lease_owner   text,                        -- host:pid of the process running it ...
    lease_until   timestamptz,                 -- ... renewed at every chunk
    rows_read     bigint NOT NULL DEFAULT 0,
    rows_valid    bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    present       bigint NOT NULL DEFAULT 0,   -- already in the switch (or earlier in the
                                               -- file): nothing written
    written       bigint NOT NULL DEFAULT 0,
    file_paise    bigint NOT NULL DEFAULT 0,   -- the sum of the file's amounts (all rows)
    written_paise bigint NOT NULL DEFAULT 0,
    control_count bigint,                      -- as the file's sender declared them
    control_paise bigint,
    started_by    text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
-- A file is imported once: a second run of the same bytes finds the first.
CREATE UNIQUE INDEX import_runs_once ON import_runs (entity, file_sha256)
    WHERE NOT dry_run AND state <> 'refused';

CREATE TABLE import_rejections (
    run_id      bigint NOT NULL REFERENCES import_runs (id),
    line        bigint NOT NULL,
    column_name text NOT NULL,
    reason      text NOT NULL,
    PRIMARY KEY (run_id, line, column_name)
);

-- Agents and terminals keep the legacy system's own id as an external reference.
ALTER TABLE agents ADD COLUMN legacy_ref text UNIQUE;
ALTER TABLE terminals ADD COLUMN legacy_ref text UNIQUE;

-- Payments made before the switch, as the legacy system recorded them: read-only
-- history (search, the consumer pages), never sent to a biller, never in the ledger.
CREATE TABLE legacy_pays (
    legacy_ref       text PRIMARY KEY,
    biller_id        text NOT NULL,
    consumer_account text NOT NULL,
    amount_paise     bigint NOT NULL CHECK (amount_paise > 0),
    paid_at          timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('posted', 'failed')),
    agent_legacy_ref text,
    biller_txn_id    text,
    mobile           text,
    run_id           bigint NOT NULL REFERENCES import_runs (id),
    imported_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX legacy_pays_consumer ON legacy_pays (consumer_account, paid_at);

-- Consumer accounts the old system knew, with their registered mobiles: the consumer
-- pages send a sign-in code to these as to a biller's own record.
CREATE TABLE consumer_accounts (
    biller_id        text NOT NULL,
    consumer_account text NOT NULL,
    mobile           text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    name             text,
    run_id           bigint NOT NULL REFERENCES import_runs (id),
    imported_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (biller_id, consumer_account, mobile)
);

-- Complaints still open in the old system come in with their own reference.
ALTER TABLE complaints ADD COLUMN legacy_ref text UNIQUE;
