-- Partitioned history: pays, ledger transfers and the SMS outbox, one partition per
-- month, so that a month long closed can be written to a file and taken out of the
-- database (`switch db archive`) while the months in use stay small and hot.
--
-- The partition key is the row's id, and the id says its month: an id made in
-- December 2026 (India time) is 202612 * 10^9 plus a sequence number below 10^9, so
-- it reads 202612000004217. Why the id, not `created_at`:
--   * PostgreSQL enforces a unique or primary key on a partitioned table only when it
--     includes the partition key. Keyed on the id, `id` stays the primary key and
--     every lookup by id reads one partition.
--   * The ids stay below 2^53 (JavaScript reads them exactly) until the year 9007.
-- The business keys that must be unique across all months cannot be keyed by the
-- month (a terminal may retry a pay made at 23:59 on the 31st after midnight), so
-- each lives in a small table of its own, never partitioned and never archived:
--   pay_refs       (terminal_id, terminal_ref) -> pay_id: a terminal's reference names
--                  one pay, for ever; a pay is claimed by inserting here first.
--   transfer_keys  idem_key -> transfer_id: a ledger key names one transfer, for ever;
--                  ledger_apply writes both under its lock.
-- A key whose row was archived still refuses a second use (ledger_apply answers 7).
-- The SMS outbox's "one message per pay" was a unique pay_id; the message is written
-- by the statement that makes the pay final, which happens once (a guarded update,
-- and the trigger refuses every move out of a final state).
--
-- Foreign keys into `pays` (settlement items, complaints, refunds) are dropped: a
-- partition referenced by one cannot be detached. Pays are never deleted (trigger),
-- and `switch db archive` refuses a month while any of its pays is open, unsettled,
-- or named by an open complaint or case.
--
-- Rows made before this migration keep their ids (printed on receipts, quoted in
-- complaints) and move into one partition per table, `<table>_legacy`, for every id
-- below the first month's; it is archived whole, once every row in it is old enough.

CREATE FUNCTION history_month_base(p_month date) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(year FROM p_month)::bigint * 100 + extract(month FROM p_month)::bigint)
           * 1000000000
$$;

CREATE FUNCTION history_month_now() RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('month', now() AT TIME ZONE 'Asia/Kolkata')::date
$$;

-- The next id of a history table: this month's base plus the sequence's next number.
-- `now()` is the transaction's start, as `created_at`'s default is: the two agree.
CREATE FUNCTION history_next_id(p_seq regclass) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT history_month_base(history_month_now()) + nextval(p_seq) % 1000000000
$$;

-- Make the partitions of this month and the next `p_months_ahead` where missing.
-- The switch calls it at start and hourly; inserting into a month without a
-- partition fails loudly (there is no default partition to hide it).
CREATE FUNCTION history_make_partitions(p_months_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_table text;
    v_month date;
    v_name text;
    v_made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7460002);
    FOREACH v_table IN ARRAY ARRAY['pays', 'transfers', 'sms_outbox'] LOOP
        FOR i IN 0 .. least(p_months_ahead, 24) LOOP
            v_month := (history_month_now() + make_interval(months => i))::date;
            v_name := v_table || '_' || to_char(v_month, 'YYYYMM');
            CONTINUE WHEN to_regclass(v_name) IS NOT NULL
                       OR EXISTS (SELECT 1 FROM history_archives WHERE partition_name = v_name);
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s) %s',
                           v_name, v_table, history_month_base(v_month),
                           history_month_base((v_month + interval '1 month')::date),
                           CASE v_table WHEN 'pays' THEN 'WITH (fillfactor = 80)' ELSE '' END);
            PERFORM history_guard_partition(v_table, v_name);
            v_made := v_made + 1;
        END LOOP;
    END LOOP;
    RETURN v_made;
END $$;

-- A statement trigger on a partitioned table does not fire for a statement aimed at
-- one partition: each partition gets its own "never deleted".
CREATE FUNCTION history_guard_partition(p_table text, p_partition text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_table IN ('pays', 'transfers') THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE OR TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION ledger_refuse(%L)', p_partition || '_no_delete',
                       p_partition, p_table || ' are never deleted');
    END IF;
END $$;

-- What `switch db archive` took out: one row per partition written to a file.
CREATE TABLE history_archives (
    table_name text NOT NULL CHECK (table_name IN ('pays', 'transfers', 'sms_outbox')),
    partition_name text NOT NULL PRIMARY KEY,
    first_month date NOT NULL,   -- the months its rows were made in
    last_month date NOT NULL,
    id_from bigint NOT NULL,     -- the ids it held: [id_from, id_to)
    id_to bigint NOT NULL,
    row_count bigint NOT NULL,
    file_name text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    archived_at timestamptz NOT NULL DEFAULT now()
);

-- What archived transfers had moved, per account: a balance is this plus its journal.
CREATE TABLE ledger_archived (
    account_id bigint PRIMARY KEY,
    net_paise bigint NOT NULL
);

-- Keep the triggers of the three tables as they stand, to restate them on the new ones.
CREATE TEMP TABLE history_triggers ON COMMIT DROP AS
    SELECT pg_get_triggerdef(t.oid) AS def
      FROM pg_trigger t
     WHERE t.tgrelid IN ('pays'::regclass, 'transfers'::regclass, 'sms_outbox'::regclass)
       AND NOT t.tgisinternal;

DROP VIEW journal;  -- restated below, over the new transfers
ALTER TABLE pays RENAME TO pays_0014;
ALTER TABLE transfers RENAME TO transfers_0014;
ALTER TABLE sms_outbox RENAME TO sms_outbox_0014;

CREATE SEQUENCE pay_ids;
CREATE SEQUENCE transfer_ids;
CREATE SEQUENCE sms_ids;
SELECT setval('pay_ids', (SELECT last_value FROM pays_id_seq));
SELECT setval('transfer_ids', (SELECT last_value FROM transfers_id_seq));
SELECT setval('sms_ids', (SELECT last_value FROM sms_outbox_id_seq));

CREATE TABLE pays (LIKE pays_0014 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)
    PARTITION BY RANGE (id);
ALTER TABLE pays ALTER COLUMN id SET DEFAULT history_next_id('pay_ids');
CREATE TABLE transfers (LIKE transfers_0014 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (id);
ALTER TABLE transfers ALTER COLUMN id SET DEFAULT history_next_id('transfer_ids');
CREATE TABLE sms_outbox (LIKE sms_outbox_0014 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (id);
ALTER TABLE sms_outbox ALTER COLUMN id SET DEFAULT history_next_id('sms_ids');

-- The rows made before: one legacy partition per table, where there are any.
DO $$
DECLARE
    v_table text;
    v_any boolean;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['pays', 'transfers', 'sms_outbox'] LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', v_table || '_0014') INTO v_any;
        CONTINUE WHEN NOT v_any;
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (MINVALUE) TO (%s) %s',
                       v_table || '_legacy', v_table,
                       history_month_base(history_month_now()),
                       CASE v_table WHEN 'pays' THEN 'WITH (fillfactor = 80)' ELSE '' END);
        PERFORM history_guard_partition(v_table, v_table || '_legacy');
    END LOOP;
END $$;
SELECT history_make_partitions(3);

INSERT INTO pays (id, terminal_id, terminal_ref, agent_id, biller_id, consumer_account, amount_paise, mobile, state, error_code, biller_txn_id, created_at, updated_at, attempts, lease_until, lease_owner, biller_code)
SELECT id, terminal_id, terminal_ref, agent_id, biller_id, consumer_account, amount_paise, mobile, state, error_code, biller_txn_id, created_at, updated_at, attempts, lease_until, lease_owner, biller_code FROM pays_0014;
INSERT INTO transfers SELECT * FROM transfers_0014;
INSERT INTO sms_outbox SELECT * FROM sms_outbox_0014;

CREATE TABLE pay_refs (
    terminal_id text NOT NULL,
    terminal_ref text NOT NULL,
    pay_id bigint NOT NULL,
    PRIMARY KEY (terminal_id, terminal_ref)
);
INSERT INTO pay_refs SELECT terminal_id, terminal_ref, id FROM pays_0014;
CREATE TABLE transfer_keys (
    idem_key text PRIMARY KEY,
    transfer_id bigint NOT NULL
);
INSERT INTO transfer_keys SELECT idem_key, id FROM transfers_0014;

DROP TABLE pays_0014, transfers_0014, sms_outbox_0014 CASCADE;  -- and the foreign keys

ALTER TABLE pays ADD PRIMARY KEY (id);
CREATE INDEX pays_agent_created ON pays (agent_id, created_at);
CREATE INDEX pays_biller_created ON pays (biller_id, created_at);
CREATE INDEX pays_biller_txn ON pays (biller_txn_id) WHERE biller_txn_id IS NOT NULL;
CREATE INDEX pays_consumer ON pays (consumer_account, created_at);
CREATE INDEX pays_created ON pays (created_at);
CREATE INDEX pays_open ON pays (id) WHERE is_open;
ALTER TABLE transfers ADD PRIMARY KEY (id);
CREATE INDEX transfers_pending_expiry ON transfers (expires_at) WHERE state = 1;
ALTER TABLE sms_outbox ADD PRIMARY KEY (id);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX sms_outbox_pay ON sms_outbox (pay_id) WHERE pay_id IS NOT NULL;

DO $$
DECLARE
    v_def text;
BEGIN
    FOR v_def IN SELECT def FROM history_triggers LOOP
        EXECUTE v_def;  -- "... ON public.pays ...": the new table has the old name
    END LOOP;
END $$;

CREATE VIEW journal AS
    SELECT t.id AS transfer_id, 'reserve' AS leg, t.debit_account_id AS debit_account_id,
           a.id AS credit_account_id, t.amount_paise, t.created_at AS at
      FROM transfers t CROSS JOIN (SELECT id FROM accounts WHERE code = 'system:in_flight') a
     WHERE t.phases = 2 AND t.state IN (1, 2, 3)
    UNION ALL
    SELECT t.id, 'post', a.id, t.credit_account_id, t.amount_paise, t.resolved_at
      FROM transfers t CROSS JOIN (SELECT id FROM accounts WHERE code = 'system:in_flight') a
     WHERE t.phases = 2 AND t.state = 2
    UNION ALL
    SELECT t.id, 'void', a.id, t.debit_account_id, t.amount_paise, t.resolved_at
      FROM transfers t CROSS JOIN (SELECT id FROM accounts WHERE code = 'system:in_flight') a
     WHERE t.phases = 2 AND t.state = 3
    UNION ALL
    SELECT t.id, 'transfer', t.debit_account_id, t.credit_account_id, t.amount_paise, t.created_at
      FROM transfers t
     WHERE t.phases = 1 AND t.state = 2;

-- ledger_apply as in migration 0002, but for three changes: a key is found in
-- transfer_keys and its transfer by id; a key whose transfer was archived answers 7;
-- a new transfer's id says its month, and its key is written beside it.
CREATE OR REPLACE FUNCTION ledger_apply(
    p_op smallint[], p_key text[], p_debit bigint[], p_credit bigint[],
    p_amount bigint[], p_timeout_ms integer[]
) RETURNS TABLE (r_idx integer, r_code smallint, r_transfer_id bigint, r_state smallint,
                r_amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_in_flight bigint;
    v_now timestamptz := now();
    v_n integer := coalesce(array_length(p_op, 1), 0);
    v_code smallint[];     -- result code; NULL = still to decide / pending to resolve
    v_tid bigint[];        -- transfer id
    v_state smallint[];    -- transfer state
    v_debit bigint[];      -- for post/void: the pending transfer's accounts and amount
    v_credit bigint[];
    v_amount bigint[];
    v_posts bigint[];
    v_voids bigint[];
    i integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7460001);
    SELECT id INTO STRICT v_in_flight FROM accounts WHERE code = 'system:in_flight';

    -- 1. Classify every request and decide the affordable ones, reading only.
    WITH r AS (
        SELECT * FROM unnest(p_op, p_key, p_debit, p_credit, p_amount)
                      WITH ORDINALITY AS r(op, key, debit, credit, amount, idx)
    ), k AS (
        SELECT r.*, t.kid, t.id AS tid, t.state AS tstate, t.phases AS tphases,
               t.debit_account_id AS tdebit, t.credit_account_id AS tcredit,
               t.amount_paise AS tamount, da.id AS da_id, da.may_go_negative AS da_neg,
               da.balance_paise AS da_bal, ca.id AS ca_id
          FROM r
          -- The key, then its transfer (found by id: one partition).
          LEFT JOIN LATERAL (SELECT k.transfer_id AS kid, x.*
                               FROM transfer_keys k
                               LEFT JOIN transfers x ON x.id = k.transfer_id
                              WHERE k.idem_key = r.key) t ON true
          LEFT JOIN LATERAL (SELECT * FROM accounts
                              WHERE id = r.debit AND r.op IN (1, 4)) da ON true
          LEFT JOIN LATERAL (SELECT id FROM accounts
                              WHERE id = r.credit AND r.op IN (1, 4)) ca ON true
    ), c AS (
        SELECT k.*,
               CASE
                 WHEN kid IS NOT NULL AND tid IS NULL THEN 7   -- its month is archived
                 WHEN op IN (1, 4) AND tid IS NOT NULL THEN
                   CASE WHEN tdebit = debit AND tcredit = credit AND tamount = amount
                             AND tphases = CASE op WHEN 1 THEN 2 ELSE 1 END
                        THEN 1 ELSE 2 END
                 WHEN op IN (1, 4) AND (da_id IS NULL OR ca_id IS NULL) THEN 4
                 WHEN op IN (2, 3) AND tid IS NULL THEN 5
                 WHEN op IN (2, 3) AND (tphases <> 2 OR tstate = 4) THEN 6
                 WHEN op IN (2, 3) AND tstate = op THEN 1
                 WHEN op IN (2, 3) AND tstate <> 1 THEN 6
               END AS pre
          FROM k
    ), g AS (
        SELECT c.*, (pre IS NULL AND op IN (1, 4) AND NOT da_neg) AS guarded,
               sum(CASE WHEN pre IS NULL AND op IN (1, 4) AND NOT da_neg THEN amount ELSE 0 END)
                   OVER (PARTITION BY debit ORDER BY idx) AS cs
          FROM c
    ), p AS (
        SELECT debit, coalesce(max(cs) FILTER (WHERE guarded AND cs <= da_bal), 0) AS used
          FROM g WHERE guarded GROUP BY debit
    )
    SELECT array_agg(CASE
                       WHEN g.pre IS NOT NULL THEN g.pre
                       WHEN g.op IN (2, 3) THEN NULL
                       WHEN NOT g.guarded THEN 0          -- may go negative (funding)
                       WHEN g.cs <= g.da_bal THEN 0       -- in the affordable prefix
                       WHEN g.amount > g.da_bal - p.used THEN 3  -- can never fit
                     END ORDER BY g.idx),
           array_agg(g.tid ORDER BY g.idx),
           array_agg(g.tstate ORDER BY g.idx),
           array_agg(CASE WHEN g.op IN (2, 3) THEN g.tdebit ELSE g.debit END ORDER BY g.idx),
           array_agg(CASE WHEN g.op IN (2, 3) THEN g.tcredit ELSE g.credit END ORDER BY g.idx),
           array_agg(CASE WHEN g.op IN (2, 3) THEN g.tamount ELSE g.amount END ORDER BY g.idx)
      INTO v_code, v_tid, v_state, v_debit, v_credit, v_amount
      FROM g LEFT JOIN p ON p.debit = g.debit AND g.guarded;

    -- 2. Debit the accepted requests, one row per account.
    UPDATE accounts a SET balance_paise = a.balance_paise - s.total
      FROM (SELECT debit, sum(amount) AS total
              FROM unnest(p_op, v_debit, v_amount, v_code) AS x(op, debit, amount, code)
             WHERE op IN (1, 4) AND code = 0 GROUP BY debit) s
     WHERE a.id = s.debit;

    -- 3. The rare undecided rest (a wallet's requests after one it could not afford),
    --    in arrival order, each with a guarded update.
    FOR i IN 1 .. v_n LOOP
        CONTINUE WHEN v_code[i] IS NOT NULL OR p_op[i] NOT IN (1, 4);
        UPDATE accounts SET balance_paise = balance_paise - v_amount[i]
         WHERE id = v_debit[i] AND balance_paise >= v_amount[i];
        v_code[i] := CASE WHEN FOUND THEN 0 ELSE 3 END;
    END LOOP;

    -- 4. Record new transfers, accepted and rejected alike (a replay returns either).
    --    Ids come from the sequence first, so no join is needed to learn them.
    SELECT array_agg(CASE WHEN op IN (1, 4) AND code IN (0, 3)
                          THEN history_next_id('transfer_ids') ELSE tid END ORDER BY idx)
      INTO v_tid
      FROM unnest(p_op, v_code, v_tid) WITH ORDINALITY AS x(op, code, tid, idx);
    INSERT INTO transfers (id, idem_key, phases, debit_account_id, credit_account_id,
                           amount_paise, state, created_at, expires_at)
    SELECT tid, key, CASE op WHEN 1 THEN 2 ELSE 1 END, debit, credit, amount,
           CASE WHEN code = 3 THEN 4 WHEN op = 1 THEN 1 ELSE 2 END, v_now,
           CASE WHEN op = 1 AND code = 0 THEN v_now + timeout_ms * interval '1 millisecond' END
      FROM unnest(p_op, p_key, v_debit, v_credit, v_amount, p_timeout_ms, v_code, v_tid)
           AS x(op, key, debit, credit, amount, timeout_ms, code, tid)
     WHERE op IN (1, 4) AND code IN (0, 3);
    INSERT INTO transfer_keys (idem_key, transfer_id)
    SELECT key, tid FROM unnest(p_op, p_key, v_code, v_tid) AS x(op, key, code, tid)
     WHERE op IN (1, 4) AND code IN (0, 3);

    -- 5. Credit in-flight for reserves and the credit account for single-phase ones.
    UPDATE accounts a SET balance_paise = a.balance_paise + s.total
      FROM (SELECT CASE op WHEN 1 THEN v_in_flight ELSE credit END AS acc, sum(amount) AS total
              FROM unnest(p_op, v_credit, v_amount, v_code) AS x(op, credit, amount, code)
             WHERE op IN (1, 4) AND code = 0 GROUP BY 1) s
     WHERE a.id = s.acc;

    -- 6. Resolve pending transfers: post to the credit account or void to the debit.
    --    By id arrays (index probes on the primary key). `state < 2` rather than
    --    `state = 1` keeps the planner off the partial pending index, which would
    --    make this quadratic in the number of pending transfers.
    SELECT coalesce(array_agg(tid) FILTER (WHERE op = 2), '{}'),
           coalesce(array_agg(tid) FILTER (WHERE op = 3), '{}')
      INTO v_posts, v_voids
      FROM unnest(p_op, v_tid, v_code) AS x(op, tid, code)
     WHERE op IN (2, 3) AND code IS NULL;
    WITH res AS (
        UPDATE transfers t SET state = 2, resolved_at = v_now
         WHERE t.id = ANY (v_posts) AND t.state < 2
        RETURNING t.credit_account_id AS acc, t.amount_paise
    ), moved AS (
        SELECT acc, amount_paise AS delta FROM res
        UNION ALL
        SELECT v_in_flight, -amount_paise FROM res
    )
    UPDATE accounts a SET balance_paise = a.balance_paise + s.total
      FROM (SELECT acc, sum(delta) AS total FROM moved GROUP BY acc) s
     WHERE a.id = s.acc;
    WITH res AS (
        UPDATE transfers t SET state = 3, resolved_at = v_now
         WHERE t.id = ANY (v_voids) AND t.state < 2
        RETURNING t.debit_account_id AS acc, t.amount_paise
    ), moved AS (
        SELECT acc, amount_paise AS delta FROM res
        UNION ALL
        SELECT v_in_flight, -amount_paise FROM res
    )
    UPDATE accounts a SET balance_paise = a.balance_paise + s.total
      FROM (SELECT acc, sum(delta) AS total FROM moved GROUP BY acc) s
     WHERE a.id = s.acc;

    RETURN QUERY
        SELECT x.idx::integer, coalesce(x.code, 0::smallint), x.tid,
               CASE WHEN x.code IS NULL THEN x.op                 -- resolved now
                    WHEN x.op IN (1, 4) AND x.code IN (0, 3) THEN  -- created now
                         CASE WHEN x.code = 3 THEN 4 WHEN x.op = 1 THEN 1 ELSE 2 END::smallint
                    ELSE x.state END,                              -- as found
               x.amount
          FROM unnest(p_op, v_code, v_tid, v_state, v_amount)
               WITH ORDINALITY AS x(op, code, tid, state, amount, idx);
END $$;

