-- A pay's error_code is one of the switch's own reasons (a closed set: insufficient
-- funds, biller rejected, reversed, ...). When a biller refused the payment, its own
-- code (account_disconnected, bill_already_paid, ...) is kept here, apart: a terminal
-- is told biller_rejected with the biller's code beside it, never a code only that
-- biller defines in place of ours.
ALTER TABLE pays ADD COLUMN biller_code text;
UPDATE pays SET biller_code = error_code, error_code = 'biller_rejected'
 WHERE state = 'voided' AND error_code IS NOT NULL
   AND error_code NOT IN ('insufficient_funds', 'wallet_frozen', 'limit_exceeded',
                          'biller_rejected', 'unknown_consumer', 'biller_unavailable',
                          'expired', 'not_applied_at_biller', 'unknown_at_deadline',
                          'reversed', 'applied_after_void');
