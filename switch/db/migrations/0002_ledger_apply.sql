-- ledger_apply: one batch of ledger requests, one round trip, one transaction.
--
-- Requests are parallel arrays, one element per request:
--   op        1 reserve (two-phase: debit -> in-flight, pending)
--             2 post    (in-flight -> credit account of the pending transfer `key`)
--             3 void    (in-flight -> back to the debit account of `key`)
--             4 transfer (single-phase: debit -> credit, e.g. a top-up)
--   key       idempotency key of the transfer (reserve/transfer: the new one;
--             post/void: the pending one to resolve). Unique within a batch.
--   debit, credit, amount, timeout_ms: for reserve/transfer; ignored for post/void.
--
-- Result codes, one row per request (the Python side maps them to exceptions):
--   0 applied now          1 replay: same key, same content, first result returned
--   2 modified request     3 insufficient funds (recorded as a rejected transfer)
--   4 unknown account      5 unknown transfer (post/void of a key never reserved)
--   6 already resolved the other way (post of a voided transfer, and so on)
--
-- Rules that keep money exact:
--   * One advisory lock per batch: batches are applied one at a time, so the
--     duplicate check, the balance check and the writes cannot race another batch.
--   * Reserves against one wallet are decided in arrival order (greedy): a request
--     is accepted if the balance left after the earlier ones covers it. One set-based
--     pass accepts each wallet's longest affordable prefix and rejects what can never
--     fit; the rare rest is decided row by row with a guarded update.
--   * No temp tables and no hash joins over `transfers`: every lookup is an index
--     probe (LATERAL), so a batch costs the same on an empty or a huge table.
--   * The balance_not_negative CHECK on accounts stands behind all of this.

CREATE FUNCTION ledger_apply(
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
        SELECT r.*, t.id AS tid, t.state AS tstate, t.phases AS tphases,
               t.debit_account_id AS tdebit, t.credit_account_id AS tcredit,
               t.amount_paise AS tamount, da.id AS da_id, da.may_go_negative AS da_neg,
               da.balance_paise AS da_bal, ca.id AS ca_id
          FROM r
          LEFT JOIN LATERAL (SELECT * FROM transfers WHERE idem_key = r.key) t ON true
          LEFT JOIN LATERAL (SELECT * FROM accounts
                              WHERE id = r.debit AND r.op IN (1, 4)) da ON true
          LEFT JOIN LATERAL (SELECT id FROM accounts
                              WHERE id = r.credit AND r.op IN (1, 4)) ca ON true
    ), c AS (
        SELECT k.*,
               CASE
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
                          THEN nextval('transfers_id_seq'::regclass) ELSE tid END ORDER BY idx)
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

-- Void pending transfers whose deadline has passed (as TigerBeetle's timeouts do),
-- at most p_limit per call. Returns how many were voided.
CREATE FUNCTION ledger_expire(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_in_flight bigint;
    v_count integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7460001);
    SELECT id INTO STRICT v_in_flight FROM accounts WHERE code = 'system:in_flight';
    WITH res AS (
        UPDATE transfers t SET state = 3, resolved_at = now()
         WHERE t.id IN (SELECT id FROM transfers
                         WHERE state = 1 AND expires_at < now()
                         ORDER BY expires_at LIMIT p_limit)
        RETURNING t.debit_account_id, t.amount_paise
    ), moved AS (
        SELECT debit_account_id AS acc, amount_paise AS delta FROM res
        UNION ALL
        SELECT v_in_flight, -amount_paise FROM res
    ), upd AS (
        UPDATE accounts a SET balance_paise = a.balance_paise + s.total
          FROM (SELECT acc, sum(delta) AS total FROM moved GROUP BY acc) s
         WHERE a.id = s.acc
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM res;
    RETURN v_count;
END $$;
