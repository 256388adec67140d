-- Recovery of unfinished pays (docs/pay.md, "Recovery"): each process's recovery task
-- leases stale pays (FOR UPDATE SKIP LOCKED + lease_until), so one driver at a time,
-- and backs off per pay (attempts) while a biller cannot say what happened.
ALTER TABLE pays ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE pays ADD COLUMN lease_until timestamptz;
ALTER TABLE pays ADD COLUMN lease_owner text;  -- which switch process holds the lease
