"""Pay records in the database: one row per (terminal, terminal reference).

Every state change is a guarded update (``WHERE state = <the state we saw>``): if
another process moved the pay first, the update finds nothing and the caller reloads
instead of overwriting. The trigger on ``pays`` refuses illegal moves as well.
"""

from __future__ import annotations

import datetime as dt
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

from switch.db import Connection
from switch.db.batch import Batcher
from switch.db.database import Database
from switch.ledger import store as ledger_store
from switch.ledger.api import transfer_result
from switch.ledger.errors import LedgerError, LedgerUnavailable
from switch.ledger.requests import Request
from switch.pays.states import PayState, check_transition

IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class Pay:
    id: int
    terminal_id: str
    terminal_ref: str
    agent_id: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    mobile: str | None
    state: PayState
    error_code: str | None
    biller_txn_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lease_until: dt.datetime | None = None
    lease_owner: str | None = None
    biller_code: str | None = None  # a biller's own refusal code (error_code: ours)

    def leased_to_another(self, me: str) -> bool:
        """Another switch process holds this pay's lease (it is driving it)."""
        if self.lease_owner in (None, me) or self.lease_until is None:
            return False
        return self.lease_until > dt.datetime.now(dt.UTC)

    def same_request(self, biller_id: str, account: str, amount_paise: int) -> bool:
        return (self.biller_id, self.consumer_account, self.amount_paise) == (
            biller_id,
            account,
            amount_paise,
        )


@dataclass(frozen=True)
class NewPay:
    """A pay request as a terminal made it: who, to whom, for how much."""

    terminal_id: str
    ref: str  # the terminal's reference: (terminal_id, ref) names the pay
    agent_id: str
    biller_id: str
    account: str
    amount_paise: int
    mobile: str | None = None  # the depositor's, for the SMS receipt


class PayConflict(Exception):
    """The pay was moved by someone else between our read and our write."""


class PayArchived(PayConflict):
    """The (terminal, ref) named a pay whose month was archived: a reference is used
    once, for ever, so the request is refused rather than made a second pay."""


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
    admission: bool = False


@dataclass(frozen=True)
class _Move:
    pay: Pay
    new: PayState
    error_code: str | None
    biller_txn_id: str | None
    biller_code: str | None
    sms: str | None
    ledger: Request | None = None  # applied first, in the move's transaction


# A pay is claimed by its reference first (pay_refs: unique across every month's
# partition, migration 0015), then written with the id the reference was given. A
# reference whose pay is in an archived month comes back with no pay (``id`` NULL).
CLAIMS_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::text[])
        AS i(terminal_id, terminal_ref, agent_id, biller_id, consumer_account, amount_paise, mobile)
), refs AS (
    INSERT INTO pay_refs (terminal_id, terminal_ref, pay_id)
    SELECT terminal_id, terminal_ref, history_next_id('pay_ids') FROM input
    ON CONFLICT DO NOTHING
    RETURNING *
), ins AS (
    INSERT INTO pays (id, terminal_id, terminal_ref, agent_id, biller_id, consumer_account,
                      amount_paise, mobile, state, lease_until, lease_owner)
    SELECT r.pay_id, i.terminal_id, i.terminal_ref, i.agent_id, i.biller_id,
           i.consumer_account, i.amount_paise, i.mobile, 'received',
           now() + make_interval(secs => $8::float8), $9
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

MOVES_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[])
        AS i(id, old_state, new_state, error_code, biller_txn_id, sms, biller_code)
), moved AS (
    UPDATE pays p SET state = i.new_state, updated_at = now(),
           error_code = coalesce(i.error_code, p.error_code),
           biller_txn_id = coalesce(i.biller_txn_id, p.biller_txn_id),
           biller_code = coalesce(i.biller_code, p.biller_code)
      FROM input i
     WHERE p.id = i.id AND p.state = i.old_state
    RETURNING p.*, i.sms
), sms AS (
    INSERT INTO sms_outbox (pay_id, mobile, body)
    SELECT id, mobile, sms FROM moved WHERE sms IS NOT NULL
)
SELECT * FROM moved
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
        self._moves: Batcher[_Move, Pay] = Batcher(self._apply_moves)
        # Told of every pay that reached its final state (once: the guarded update
        # moves a pay only from the state it was seen in). Metrics and logs set it.
        self.on_final: Callable[[Pay], None] | None = None
        # Told of every batch of moves that carried ledger requests: (requests,
        # seconds), as the ledger's own batches are. Metrics set it.
        self.on_ledger_batch: Callable[[int, float], None] | None = None

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
        check_transition(pay.state, new)
        assert set(fields) <= {"error_code", "biller_txn_id", "biller_code"}, fields
        error_code, biller_txn = fields.get("error_code"), fields.get("biller_txn_id")
        biller_code = fields.get("biller_code")
        sms = None
        if new.final and pay.mobile:
            sms = sms_text(pay, new, biller_code or error_code, biller_txn)
        move = _Move(pay, new, error_code, biller_txn, biller_code, sms, ledger)
        return await self._moves.submit(move)

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

    async def _apply_moves(self, moves: Sequence[_Move]) -> list[Pay | Exception]:
        ledger_requests = sum(m.ledger is not None for m in moves)
        if ledger_requests:
            started = time.perf_counter()
            results = await self._db.run(lambda conn: _moves_with_ledger(conn, moves))
            if self.on_ledger_batch is not None:
                self.on_ledger_batch(ledger_requests, time.perf_counter() - started)
        else:
            results = _moved(moves, await self._db.run(lambda conn: _fetch_moves(conn, moves)))
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


async def _fetch_moves(conn: Connection, moves: Sequence[_Move]) -> list[asyncpg.Record]:
    if not moves:
        return []
    return await conn.fetch(
        MOVES_SQL,
        [m.pay.id for m in moves],
        [m.pay.state.value for m in moves],
        [m.new.value for m in moves],
        [m.error_code for m in moves],
        [m.biller_txn_id for m in moves],
        [m.sms for m in moves],
        [m.biller_code for m in moves],
    )


def _moved(moves: Sequence[_Move], rows: Sequence[asyncpg.Record]) -> list[Pay | Exception]:
    by_id = {r["id"]: pay_from_row(r) for r in rows}
    return [
        by_id.get(m.pay.id) or PayConflict(f"pay {m.pay.id} is no longer {m.pay.state}")
        for m in moves
    ]


MAX_LEDGER_ATTEMPTS = 3  # a deadlock or serialisation failure rolls back the whole batch


async def _moves_with_ledger(conn: Connection, moves: Sequence[_Move]) -> list[Pay | Exception]:
    """On the asyncio side: the batch's ledger requests, then the moves whose request
    the ledger took (and those that carried none), in one transaction. A batch the
    database refuses for its content is applied one move at a time, so one bad
    request never fails its neighbours; a server that does not answer leaves every
    move's outcome unknown (``LedgerUnavailable``: ask again, the ledger replays)."""
    for attempt in range(MAX_LEDGER_ATTEMPTS):
        try:
            async with conn.transaction():
                return await _apply_with_ledger(conn, moves)
        except ledger_store.RETRYABLE:
            if attempt == MAX_LEDGER_ATTEMPTS - 1:
                raise
        except ledger_store.CONTENT_ERRORS as exc:
            if len(moves) == 1:
                return [LedgerError(f"refused by the database: {exc}")]
            return [r for m in moves for r in await _moves_with_ledger(conn, [m])]
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            unknown = LedgerUnavailable(f"ledger database did not answer: {exc!r}")
            return [unknown for _ in moves]
    raise AssertionError("unreachable")


async def _apply_with_ledger(conn: Connection, moves: Sequence[_Move]) -> list[Pay | Exception]:
    # ledger_apply takes each key once per call; one pay has one driver, so a key
    # twice means two copies of a move: the second is told to read the pay again.
    seen: set[str] = set()
    requests: list[Request] = []
    for m in moves:
        if m.ledger is not None and m.ledger.key not in seen:
            seen.add(m.ledger.key)
            requests.append(m.ledger)
    answers = await ledger_store.apply_requests(conn, requests)
    rows = dict(zip(map(id, requests), answers, strict=True))
    refused: dict[int, Exception] = {}  # index in moves -> the ledger's refusal
    for i, m in enumerate(moves):
        if m.ledger is None:
            continue
        row = rows.get(id(m.ledger))
        if row is None:
            refused[i] = PayConflict(f"pay {m.pay.id}: its ledger request twice in one batch")
            continue
        try:
            transfer_result(m.ledger, row)
        except LedgerError as exc:
            refused[i] = exc
    going = [m for i, m in enumerate(moves) if i not in refused]
    moved = iter(_moved(going, await _fetch_moves(conn, going)))
    return [refused[i] if i in refused else next(moved) for i in range(len(moves))]


def sms_text(pay: Pay, state: PayState, error_code: str | None, biller_txn: str | None) -> str:
    """The depositor's SMS: a receipt, or a failure and what to do (collect the cash)."""
    rupees = f"Rs {pay.amount_paise // 100}.{pay.amount_paise % 100:02d}"
    if state is PayState.POSTED:
        return (
            f"{rupees} received for {pay.biller_id} a/c {pay.consumer_account}. "
            f"Txn {pay.id}, biller ref {biller_txn or pay.biller_txn_id or 'to follow'}, "
            f"terminal ref {pay.terminal_ref}. Thank you."
        )
    reason = (error_code or pay.error_code or "failed").replace("_", " ")
    return (
        f"Payment of {rupees} for {pay.biller_id} a/c {pay.consumer_account} FAILED "
        f"({reason}). Txn {pay.id}. Please collect your cash back from the agent."
    )


def _ist_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(), IST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), IST)
    return start, end


def pay_from_row(row: asyncpg.Record) -> Pay:
    return Pay(
        id=row["id"],
        terminal_id=row["terminal_id"],
        terminal_ref=row["terminal_ref"],
        agent_id=row["agent_id"],
        biller_id=row["biller_id"],
        consumer_account=row["consumer_account"],
        amount_paise=row["amount_paise"],
        mobile=row["mobile"],
        state=PayState(row["state"]),
        error_code=row["error_code"],
        biller_txn_id=row["biller_txn_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lease_until=row["lease_until"],
        lease_owner=row["lease_owner"],
        biller_code=row["biller_code"],
    )
