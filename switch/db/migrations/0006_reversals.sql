-- Reversals (docs/pay.md, "Reversals"): a pay whose outcome is unknown at its
-- deadline, or that the biller says it never had, is reversed store-and-forward:
-- 'reversing' is durable before the first reversal is sent and stays until the biller
-- acknowledges; then 'voided'. If the biller cannot reverse (it applied it and will
-- not undo it), the pay is posted and a reconciliation case is opened.

ALTER TABLE pays DROP CONSTRAINT pays_state_check;
ALTER TABLE pays ADD CONSTRAINT pays_state_check
    CHECK (state IN ('received', 'reserved', 'sent', 'confirmed', 'rejected', 'unknown',
                     'reversing', 'posted', 'voided'));

DROP TRIGGER pays_transition ON pays;
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
             ('sent', 'posted'), ('sent', 'voided'), ('sent', 'reversing'),
             ('unknown', 'confirmed'), ('unknown', 'rejected'), ('unknown', 'posted'),
             ('unknown', 'voided'), ('unknown', 'reversing'),
             ('reversing', 'voided'), ('reversing', 'posted'),
             ('confirmed', 'posted'), ('rejected', 'voided'))))
    EXECUTE FUNCTION ledger_refuse('illegal pay state change');

-- Differences between the switch and a biller that need a person (the settlement
-- issue's reconciliation adds the daily matching; this is where cases live).
CREATE TABLE recon_cases (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,              -- e.g. success_after_reversal
    pay_id bigint,
    biller_id text NOT NULL,
    amount_paise bigint,
    detail text NOT NULL,
    suggested_action text NOT NULL,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, pay_id)
);
