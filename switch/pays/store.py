"""Pay records in the database: one row per (terminal, terminal reference).

Every state change is a guarded update (``WHERE state = <the state we saw>``): if
another process moved the pay first, the update finds nothing and the caller reloads
instead of overwriting. The trigger on ``pays`` refuses illegal moves as well.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import trio

from switch.db.batch import Batcher
from switch.db.database import Database
from switch.ledger.requests import Request
from switch.pays import moves
from switch.pays.moves import Move
from switch.pays.records import (
    NewPay,
    Pay,
    PayArchived,
    PayConflict,
    pay_from_row,
    sms_text,
)
from switch.pays.states import PayState, check_transition

# Re-exported: the records are read through the store by most callers.
__all__ = [
    "NewPay",
    "Pay",
    "PayArchived",
    "PayConflict",
    "PayStore",
    "pay_from_row",
    "sms_text",
]

IST = ZoneInfo("Asia/Kolkata")


class _NewPay:
    """A pay just created by one request: copies of that request (a retry that raced
    it) wait until its creator has decided whether it may go ahead."""

    __slots__ = ("admitted", "decided", "since")

    def __init__(self) -> None:
        self.decided = trio.Event()
        self.admitted = False
        self.since = trio.current_time()


MAX_UNDECIDED = 10_000  # a creator cancelled before it decided leaves one behind
UNDECIDED_FORGET_S = 60.0


@dataclass(frozen=True)
class _Claim:
    terminal_id: str
    ref: str
    agent_id: str
    biller_id: str
    account: str
    amount_paise: int
    mobile: str | None
    params: str | None  # JSON of the other customer parameters, or None
    channel: str
    language: str | None = None
    admission: bool = False


# A pay is claimed by its reference first (pay_refs: unique across every month's
# partition, migration 0015), then written with the id the reference was given. A
# reference whose pay is in an archived month comes back with no pay (``id`` NULL).
CLAIMS_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::text[], $10::text[], $11::text[], $12::text[])
        AS i(terminal_id, terminal_ref, agent_id, biller_id, consumer_account, amount_paise, mobile,
             consumer_params, channel, language)
), refs AS (
    INSERT INTO pay_refs (terminal_id, terminal_ref, pay_id)
    SELECT terminal_id, terminal_ref, history_next_id('pay_ids') FROM input
    ON CONFLICT DO NOTHING
    RETURNING *
), ins AS (
    INSERT INTO pays (id, terminal_id, terminal_ref, agent_id, biller_id, consumer_account,
                      amount_paise, mobile, state, lease_until, lease_owner, consumer_params,
                      channel, language)
    SELECT r.pay_id, i.terminal_id, i.terminal_ref, i.agent_id, i.biller_id,
           i.consumer_account, i.amount_paise, i.mobile, 'received',
           now() + make_interval(secs => $8::float8), $9, i.consumer_params::jsonb, i.channel,
           coalesce(i.language,
                    (SELECT c.language FROM consumer_languages c WHERE c.mobile = i.mobile),
                    (SELECT t.language FROM terminals t WHERE t.id = i.terminal_id), 'en')
      FROM refs r JOIN input i USING (terminal_id, terminal_ref)
    RETURNING *
)
SELECT *, true AS created, terminal_id AS ref_terminal, terminal_ref AS ref_ref FROM ins
UNION ALL
SELECT p.*, false, i.terminal_id, i.terminal_ref FROM input i
  JOIN pay_refs r ON r.terminal_id = i.terminal_id AND r.terminal_ref = i.terminal_ref
  LEFT JOIN pays p ON p.id = r.pay_id
 WHERE NOT EXISTS (SELECT 1 FROM refs WHERE refs.terminal_id = i.terminal_id
                                         AND refs.terminal_ref = i.terminal_ref)
"""

LEASE_SQL = """
UPDATE pays p SET attempts = attempts + 1, lease_owner = $5,
       lease_until = now() + make_interval(
           secs => least($2::float8 * power(2, attempts), $3::float8))
  FROM agents a
 WHERE a.id = p.agent_id
   AND p.id IN (SELECT id FROM pays
                 WHERE is_open  -- the open pays' index, in id order (migration 0014)
                   AND updated_at < now() - make_interval(secs => $4::float8)
                   AND (lease_until IS NULL OR lease_until < now())
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING p.*, a.wallet_account_id
"""


# Pending pay holds whose pay is final. The key is pay:<terminal>:<ref> (neither part
# contains ':'), so the pay is found through its reference in pay_refs.
ORPHAN_HOLDS_SQL = """
SELECT p.terminal_id, p.terminal_ref, p.state
  FROM transfers t
  JOIN transfer_keys k ON k.transfer_id = t.id
  JOIN pay_refs r ON r.terminal_id = split_part(k.idem_key, ':', 2)
                 AND r.terminal_ref = split_part(k.idem_key, ':', 3)
  JOIN pays p ON p.id = r.pay_id
 WHERE t.state = 1 AND k.idem_key LIKE 'pay:%'
   AND p.state IN ('posted', 'voided')
   AND t.created_at < now() - make_interval(secs => $2::float8)
 LIMIT $1
"""


class PayStore:
    """Pay records, written in group-committed batches once ``run`` is started."""

    def __init__(self, db: Database, lease_s: float = 30.0) -> None:
        self._db = db
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # A new pay is leased to the process that records it, for as long as driving it
        # can take: another process seeing it meanwhile (a retry that landed there)
        # leaves it to its owner, or to recovery once the lease has passed.
        self._lease_s = lease_s
        self._claims: Batcher[_Claim, tuple[Pay, bool]] = Batcher(self._apply_claims)
        # Pays created here whose creator has not yet said whether they go ahead.
        # Registered in the claims batch itself, before any request hears of the pay.
        self._new: dict[int, _NewPay] = {}
        self._moves: Batcher[Move, Pay] = Batcher(self._apply_moves)
        # Told of every pay that reached its final state (once: the guarded update
        # moves a pay only from the state it was seen in). Metrics and logs set it.
        self.on_final: Callable[[Pay], None] | None = None
        # Told of every batch of moves that carried ledger requests: (requests,
        # seconds), as the ledger's own batches are. Metrics set it.
        self.on_ledger_batch: Callable[[int, float], None] | None = None
        # The short link to a pay's receipt, for its SMS (switch/receipts/links.py).
        self.receipt_url: Callable[[int], str] | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The two batchers (claims, moves); until started, each write goes alone."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._claims.run)
            await nursery.start(self._moves.run)
            task_status.started()

    async def claim(self, new: NewPay, *, admission: bool = False) -> tuple[Pay, bool]:
        """Record a new pay, or find the one this (terminal, ref) already names:
        (pay, created). Of several copies of one request, one is told ``created``.

        With ``admission``, a created pay waits for its creator's ``decided`` (which
        the creator must call): copies of the request that ask ``wait_decided``
        meanwhile wait for it, so a pay is admitted once, by one request."""
        claim = _Claim(
            new.terminal_id,
            new.ref,
            new.agent_id,
            new.biller_id,
            new.account,
            new.amount_paise,
            new.mobile,
            json.dumps(dict(sorted(new.params.items()))) if new.params else None,
            new.channel,
            new.language,
            admission,
        )
        return await self._claims.submit(claim)

    def decided(self, pay_id: int, admitted: bool) -> None:
        """The creator of a new pay decided: admitted (it may be driven) or not
        (refused, or the decision failed). Called exactly once per created pay."""
        new = self._new.pop(pay_id, None)
        if new is not None:
            new.admitted = admitted
            new.decided.set()

    async def wait_decided(self, pay_id: int, timeout_s: float) -> bool | None:
        """For a copy of a request: wait (bounded) for the pay's creator in this
        process. True: admitted, or nobody here is deciding; False: not admitted;
        None: still undecided after ``timeout_s``."""
        new = self._new.get(pay_id)
        if new is None:
            return True
        with trio.move_on_after(timeout_s):
            await new.decided.wait()
            return new.admitted
        return None

    async def move(
        self, pay: Pay, new: PayState, *, ledger: Request | None = None, **fields: Any
    ) -> Pay:
        """Move ``pay`` from the state we saw to ``new``; a final move with a
        depositor mobile also queues the SMS, in the same statement.

        With ``ledger``, the ledger request (a hold, post or void of this pay's
        transfer) is applied first, in the same transaction as the move: the effect
        and the state that records it cost one commit, not two. A request the ledger
        refuses raises its ``LedgerError`` and nothing moves. A move whose guard fails
        (``PayConflict``) still leaves the ledger's effect, exactly as when the two
        were separate steps: the reloaded pay asks for it again, and the ledger
        answers the replay."""
        return await self._moves.submit(self._move(pay, new, fields, ledger=ledger))

    def _move(
        self, pay: Pay, new: PayState, fields: dict[str, Any], ledger: Request | None = None
    ) -> Move:
        check_transition(pay.state, new)
        assert set(fields) <= {"error_code", "biller_txn_id", "biller_code"}, fields
        error_code, biller_txn = fields.get("error_code"), fields.get("biller_txn_id")
        biller_code = fields.get("biller_code")
        sms = None
        if new.final and pay.mobile:
            link = self.receipt_url(pay.id) if self.receipt_url else None
            sms = sms_text(pay, new, biller_code or error_code, biller_txn, link)
        return Move(pay, new, error_code, biller_txn, biller_code, sms, ledger)

    async def _apply_claims(self, claims: Sequence[_Claim]) -> list[tuple[Pay, bool] | Exception]:
        # One row per (terminal, ref): a retry racing its original shares the answer.
        unique = list({(c.terminal_id, c.ref): c for c in claims}.values())
        found: dict[tuple[str, str], tuple[Pay, bool]] = {}
        archived: set[tuple[str, str]] = set()
        for _ in range(3):
            todo = [c for c in unique if (c.terminal_id, c.ref) not in found.keys() | archived]
            if not todo:
                break
            rows = await self._db.fetch(
                CLAIMS_SQL,
                [c.terminal_id for c in todo],
                [c.ref for c in todo],
                [c.agent_id for c in todo],
                [c.biller_id for c in todo],
                [c.account for c in todo],
                [c.amount_paise for c in todo],
                [c.mobile for c in todo],
                self._lease_s,
                self.process_id,
                [c.params for c in todo],
                [c.channel for c in todo],
                [c.language for c in todo],
            )
            for r in rows:
                key = (r["ref_terminal"], r["ref_ref"])
                if r["id"] is None:
                    archived.add(key)
                else:
                    found[key] = (pay_from_row(r), bool(r["created"]))
            # Missing: inserted by a transaction that committed after this statement's
            # snapshot (another process): look again with a new one.
        results: list[tuple[Pay, bool] | Exception] = []
        answered: set[tuple[str, str]] = set()
        for c in claims:  # one claim per (terminal, ref) in a batch is its creator
            key = (c.terminal_id, c.ref)
            hit = found.get(key)
            if key in archived:
                results.append(PayArchived(f"{c.terminal_id}/{c.ref} named a pay now archived"))
                continue
            if hit is None:
                results.append(PayConflict(f"pay {c.terminal_id}/{c.ref} not claimed"))
                continue
            pay, created = hit
            created = created and key not in answered  # one creator; the copies wait
            answered.add(key)
            if created and c.admission:
                self._new[pay.id] = _NewPay()
            results.append((pay, created))
        if len(self._new) > MAX_UNDECIDED:
            old = trio.current_time() - UNDECIDED_FORGET_S
            for pay_id in [i for i, n in self._new.items() if n.since < old]:
                self.decided(pay_id, admitted=False)
        return results

    async def _apply_moves(self, batch: Sequence[Move]) -> list[Pay | Exception]:
        started = time.perf_counter()
        results = await self._db.run(lambda conn: moves.apply(conn, batch))
        ledger_requests = moves.ledger_requests(batch)
        if ledger_requests and self.on_ledger_batch is not None:
            self.on_ledger_batch(ledger_requests, time.perf_counter() - started)
        if self.on_final is not None:
            for pay in results:
                if isinstance(pay, Pay) and pay.state.final:
                    self.on_final(pay)
        return results

    async def open_case(self, kind: str, pay: Pay, detail: str, action: str) -> None:
        """A difference a person must look at (once per kind and pay)."""
        await self._db.execute(
            """INSERT INTO recon_cases (kind, pay_id, biller_id, amount_paise, detail,
                                        suggested_action)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, pay_id) DO NOTHING""",
            kind,
            pay.id,
            pay.biller_id,
            pay.amount_paise,
            detail,
            action,
        )

    async def lease_stale(
        self, limit: int, backoff_base_s: float, backoff_max_s: float, idle_s: float
    ) -> list[tuple[Pay, int]]:
        """Lease up to ``limit`` pays not final and untouched for ``idle_s`` to this
        process, each for a backoff that doubles with its attempts; with each, its
        agent's wallet account."""
        rows = await self._db.fetch(
            LEASE_SQL, limit, backoff_base_s, backoff_max_s, idle_s, self.process_id
        )
        return [(pay_from_row(r), int(r["wallet_account_id"])) for r in rows]

    async def final_pays_with_pending_holds(
        self, limit: int, idle_s: float
    ) -> list[tuple[str, str, PayState]]:
        """(terminal, ref, state) of final pays whose hold is still pending after
        ``idle_s``: the hold is to be resolved to match the pay."""
        rows = await self._db.fetch(ORPHAN_HOLDS_SQL, limit, idle_s)
        return [(r["terminal_id"], r["terminal_ref"], PayState(r["state"])) for r in rows]

    async def get(self, pay_id: int) -> Pay | None:
        row = await self._db.fetchrow("SELECT * FROM pays WHERE id = $1", pay_id)
        return pay_from_row(row) if row else None

    async def by_ref(self, terminal_id: str, ref: str) -> Pay | None:
        row = await self._db.fetchrow(
            """SELECT p.* FROM pay_refs r JOIN pays p ON p.id = r.pay_id
                WHERE r.terminal_id = $1 AND r.terminal_ref = $2""",
            terminal_id,
            ref,
        )
        return pay_from_row(row) if row else None

    async def for_agent(
        self, agent_id: str, first: dt.date, last: dt.date, limit: int, after_id: int
    ) -> list[Pay]:
        """The agent's pays created on business dates first..last (IST), oldest first."""
        start, end = _ist_bounds(first, last)
        rows = await self._db.fetch(
            """SELECT * FROM pays WHERE agent_id = $1 AND created_at >= $2 AND created_at < $3
                 AND id > $4 ORDER BY id LIMIT $5""",
            agent_id,
            start,
            end,
            after_id,
            limit,
        )
        return [pay_from_row(r) for r in rows]

    async def summary(self, agent_id: str, first: dt.date, last: dt.date) -> list[asyncpg.Record]:
        start, end = _ist_bounds(first, last)
        return await self._db.fetch(
            """SELECT state, count(*) AS count,
                      coalesce(sum(amount_paise), 0)::bigint AS amount_paise
                 FROM pays WHERE agent_id = $1 AND created_at >= $2 AND created_at < $3
                GROUP BY state ORDER BY state""",
            agent_id,
            start,
            end,
        )


def _ist_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(), IST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), IST)
    return start, end
