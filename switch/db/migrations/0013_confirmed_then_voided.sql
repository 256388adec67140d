-- A pay recorded 'confirmed' (the biller applied it) whose post then meets a hold the
-- ledger had already voided (its safety-net deadline) ends 'voided', as its money did,
-- with a case for a person: the move confirmed -> voided is allowed from now on.
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
             ('confirmed', 'posted'), ('confirmed', 'voided'), ('rejected', 'voided'))))
    EXECUTE FUNCTION ledger_refuse('illegal pay state change');
