-- Institutional bill payment (switch/bulk/): an organisation (a payer) with circles
-- and sites, each site a consumer account at a discom; its bills checked (SBV, DBV,
-- OBV), approved in a chain, sent to its ERP for a liability, and paid by priority
-- from its prefunded account through the same pay flow as every channel ('bulk').
-- The payer is an `agents` row of kind 'payer': its wallet is the prefunded account,
-- topped up, limited and frozen as any other. Its staff are users bound to it.

ALTER TABLE agents DROP CONSTRAINT agents_kind_check;
ALTER TABLE agents ADD CONSTRAINT agents_kind_check
    CHECK (kind IN ('agent', 'partner', 'gateway', 'payer'));
CREATE SEQUENCE payer_no;

ALTER TABLE pays DROP CONSTRAINT pays_channel_check;
ALTER TABLE pays ADD CONSTRAINT pays_channel_check
    CHECK (channel IN ('terminal', 'partner', 'link', 'bulk'));

-- A payer's staff: the Site In-charge, DGM (F) and Circle Nodal of one organisation.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('onboarding', 'finance',
    'operations', 'support', 'auditor', 'admin', 'agent', 'site_incharge', 'dgm_f',
    'circle_nodal'));
ALTER TABLE users DROP CONSTRAINT users_check;
ALTER TABLE users ADD CONSTRAINT users_bound_to_their_agent_or_payer
    CHECK ((role IN ('agent', 'site_incharge', 'dgm_f', 'circle_nodal')) = (agent_id IS NOT NULL));

CREATE TABLE payer_circles (
    payer_id  text NOT NULL REFERENCES agents (id),
    id        text NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,20}$'),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    PRIMARY KEY (payer_id, id)
);

-- A payer's staff member may be one circle's (their bills only); none: every circle's.
ALTER TABLE users ADD COLUMN circle_id text;
ALTER TABLE users ADD CONSTRAINT users_circle_of_their_payer
    FOREIGN KEY (agent_id, circle_id) REFERENCES payer_circles (payer_id, id);
ALTER TABLE users ADD CONSTRAINT users_circle_only_for_payer_staff
    CHECK (circle_id IS NULL OR role IN ('site_incharge', 'dgm_f', 'circle_nodal'));

CREATE TABLE payer_sites (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payer_id         text NOT NULL,
    circle_id        text NOT NULL,
    site_code        text NOT NULL CHECK (site_code ~ '^[A-Za-z0-9/_-]{1,40}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    biller_id        text NOT NULL,
    consumer_account text NOT NULL CHECK (length(consumer_account) BETWEEN 1 AND 40),
    meter_no         text NOT NULL,
    cost_centre      text NOT NULL,
    vendor_code      text NOT NULL,
    category         text NOT NULL,             -- the discom's tariff category
    pay_category     text NOT NULL CHECK (pay_category IN ('gold', 'silver', 'bronze', 'z')),
    sanctioned_load_kw  numeric(10, 2) NOT NULL DEFAULT 0 CHECK (sanctioned_load_kw >= 0),
    contract_demand_kva numeric(10, 2) NOT NULL DEFAULT 0 CHECK (contract_demand_kva >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (payer_id, circle_id) REFERENCES payer_circles (payer_id, id),
    UNIQUE (payer_id, site_code),
    UNIQUE (biller_id, consumer_account)
);

-- A bill of a site, as the discom issued it, with its checks and where it stands.
-- The same bill (site, bill number) is taken in once, however often it arrives.
CREATE TABLE site_bills (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          bigint NOT NULL REFERENCES payer_sites (id),
    payer_id         text NOT NULL REFERENCES agents (id),
    bill_no          text NOT NULL CHECK (length(bill_no) BETWEEN 1 AND 40),
    bill_date        date NOT NULL,
    due_date         date NOT NULL,
    omr              bigint,
    cmr              bigint,
    units            bigint NOT NULL,
    multiplying_factor integer NOT NULL DEFAULT 1 CHECK (multiplying_factor > 0),
    billing_type     text NOT NULL DEFAULT 'normal'
        CHECK (billing_type IN ('normal', 'average', 'provisional', 'assessed')),
    meter_status     text NOT NULL DEFAULT 'ok',
    billing_days     integer CHECK (billing_days > 0),
    current_paise    bigint NOT NULL CHECK (current_paise >= 0),
    arrears_paise    bigint NOT NULL DEFAULT 0,
    taxes_paise      bigint NOT NULL DEFAULT 0 CHECK (taxes_paise >= 0),
    meter_rent_paise bigint NOT NULL DEFAULT 0 CHECK (meter_rent_paise >= 0),
    surcharge_paise  bigint NOT NULL DEFAULT 0 CHECK (surcharge_paise >= 0),
    tcs_paise        bigint NOT NULL DEFAULT 0 CHECK (tcs_paise >= 0),
    gross_paise      bigint NOT NULL,
    dynamic          jsonb NOT NULL DEFAULT '{}',   -- further dynamic tariff parameters
    history          jsonb NOT NULL DEFAULT '[]',   -- earlier months, as printed on it
    source           text NOT NULL,                 -- 'file:<name>' | 'fetch'
    multiple_invoice boolean NOT NULL DEFAULT false, -- another bill of the site within 15 days
    -- The checks (switch/bulk/validation.py).
    letter           char(1) NOT NULL CHECK (letter IN ('S', 'D', 'U', 'A')),
    checks           jsonb NOT NULL,
    tariff_gross_paise bigint,
    -- Where it stands (switch/bulk/workflow.py) and its money once approved.
    state            text NOT NULL CHECK (state IN ('site_incharge', 'dgm_f', 'circle_l1',
                         'erp', 'invoice_failure', 'liability', 'liability_failure',
                         'paying', 'paid', 'not_to_pay', 'cancelled')),
    approved_paise   bigint CHECK (approved_paise >= 0),
    tds_paise        bigint CHECK (tds_paise >= 0),
    net_payable_paise bigint CHECK (net_payable_paise >= 0),
    liability_doc    text,
    pay_id           bigint REFERENCES pays (id),
    last_reason      text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, bill_no),
    CHECK (state <> 'liability' OR (liability_doc IS NOT NULL AND net_payable_paise IS NOT NULL))
);
CREATE INDEX site_bills_queue ON site_bills (payer_id, state);

-- A docket: opened when any check failed, with the failing checks and their figures.
CREATE TABLE bill_dockets (
    bill_id    bigint PRIMARY KEY REFERENCES site_bills (id),
    failures   jsonb NOT NULL,
    opened_at  timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz,
    closed_by  text
);

-- Every step of a bill, with who took it and when: its workflow milestones.
CREATE TABLE bill_milestones (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bill_id   bigint NOT NULL REFERENCES site_bills (id),
    milestone text NOT NULL,
    actor     text NOT NULL,
    note      text,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bill_milestones_of ON bill_milestones (bill_id, id);

-- The daily fetch round: each payer's sites once a day, by whichever process claims
-- the day first (a claim older than its lease, never finished, is taken over).
CREATE TABLE bulk_fetch_days (
    payer_id    text NOT NULL REFERENCES agents (id),
    day         date NOT NULL,
    claimed_by  text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    taken_in    integer,
    PRIMARY KEY (payer_id, day)
);

-- A pay run: the funds allocated, the bills chosen by priority, each bill's outcome.
CREATE TABLE bulk_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payer_id    text NOT NULL REFERENCES agents (id),
    funds_paise bigint NOT NULL CHECK (funds_paise >= 0),
    state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    started_by  text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE bulk_run_items (
    run_id    bigint NOT NULL REFERENCES bulk_runs (id),
    bill_id   bigint NOT NULL REFERENCES site_bills (id),
    position  integer NOT NULL,                 -- in the priority order
    amount_paise bigint NOT NULL,
    outcome   text NOT NULL CHECK (outcome IN ('to_pay', 'paid', 'failed', 'deferred')),
    reason    text,
    pay_id    bigint REFERENCES pays (id),
    PRIMARY KEY (run_id, bill_id)
);
