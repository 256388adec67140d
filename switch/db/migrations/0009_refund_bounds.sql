-- Refunds of a pay are bounded by its amount, in the database: every refund of a pay
-- (a complaint's, or a reconciliation case's refund to the agent) adds to its row
-- here in the same transaction as the ledger transfer, and the CHECK refuses a total
-- above the pay's amount. The row is the lock: concurrent refunds of one pay queue on
-- it, so two can never pass the bound together.
CREATE TABLE pay_refunds (
    pay_id bigint PRIMARY KEY REFERENCES pays (id),
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    refunded_paise bigint NOT NULL CHECK (refunded_paise > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_within_the_pay CHECK (refunded_paise <= amount_paise)
);

-- A second complaint about the same pay points at the first (one story per pay), and
-- a refund the switch pays out of its own funds is marked as the write-off it is.
ALTER TABLE complaints
    ADD COLUMN linked_to bigint REFERENCES complaints (id),
    ADD COLUMN write_off boolean NOT NULL DEFAULT false;
CREATE INDEX complaints_pay ON complaints (pay_id) WHERE pay_id IS NOT NULL;
