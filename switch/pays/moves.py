"""A batch of pay state moves, with the ledger requests that ride with them, as one
transaction (the machine's rule 9).

Every move is guarded (``WHERE state = <the state the driver saw>``): a move that
finds its pay elsewhere answers ``PayConflict`` and the driver reloads. A move may
carry a ledger request (a hold, post or void of the pay's transfer), applied before
the move (rule 2: the effect never after the state that records it). A refusal (no
funds; a hold already voided) answers the ``LedgerError``, and the pay does not move.

A batch that carries ledger requests is one statement (one round trip, one
transaction): one ``ledger_apply`` call for all of them, then the moves whose request
the ledger took. ``ledger_apply`` takes the ledger's lock, so such a batch is applied
one at a time with every other ledger batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from switch.db import Connection
from switch.ledger import store as ledger_store
from switch.ledger.api import TAKEN_CODES, transfer_result
from switch.ledger.errors import LedgerError, LedgerUnavailable
from switch.ledger.requests import Request
from switch.ledger.types import TransferState
from switch.pays.records import Pay, PayConflict, pay_from_row
from switch.pays.states import PayState
from switch.sms import Sms

# The guarded update of a batch of moves read from CTE {source}, and the SMS the
# final ones queue (with their pay, in the same statement).
_MOVE_AND_SMS = """
moved AS (
    UPDATE pays p SET state = i.new_state, updated_at = now(),
           error_code = coalesce(i.error_code, p.error_code),
           biller_txn_id = coalesce(i.biller_txn_id, p.biller_txn_id),
           biller_code = coalesce(i.biller_code, p.biller_code)
      FROM {source} i
     WHERE p.id = i.id AND p.state = i.old_state
    RETURNING p.*, i.sms, i.sms_template{returning}
), sms AS (
    INSERT INTO sms_outbox (pay_id, mobile, body, template_id, language)
    SELECT id, mobile, sms, sms_template, language FROM moved WHERE sms IS NOT NULL
)"""

MOVES_SQL = f"""
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[])
        AS i(id, old_state, new_state, error_code, biller_txn_id, sms, biller_code, sms_template)
), {_MOVE_AND_SMS.format(source="input", returning="")}
SELECT * FROM moved
"""

# The same moves, after ledger_apply for the requests they carry ($8: each move's
# request, by its place in $9..$14; NULL: none). A move goes only if its request was
# taken: a code in $16 and a state other than $15 (rejected), as ``transfer_result``
# (each SMS's template id: $17)
# reads them. One row per move, in order: the ledger's answer and the pay as moved
# (NULLs: not moved). The function is a materialised CTE, so it runs once and before
# the update that reads its answers.
MOVES_WITH_LEDGER_SQL = f"""
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::int[], $17::text[])
        WITH ORDINALITY
        AS i(id, old_state, new_state, error_code, biller_txn_id, sms, biller_code, ledger_n,
             sms_template, n)
), led AS MATERIALIZED (
    SELECT * FROM ledger_apply($9, $10, $11, $12, $13, $14)
), going AS (
    SELECT i.* FROM input i LEFT JOIN led l ON l.r_idx = i.ledger_n
     WHERE i.ledger_n IS NULL OR (l.r_code = ANY($16::int[]) AND l.r_state IS DISTINCT FROM $15)
), {_MOVE_AND_SMS.format(source="going", returning=", i.n AS input_n")}
SELECT l.r_code AS l_code, l.r_transfer_id AS l_transfer_id, l.r_state AS l_state,
       l.r_amount AS l_amount, m.*
  FROM input i
  LEFT JOIN led l ON l.r_idx = i.ledger_n
  LEFT JOIN moved m ON m.input_n = i.n
 ORDER BY i.n
"""

MAX_LEDGER_ATTEMPTS = 3  # a deadlock or serialisation failure rolls back the whole batch


@dataclass(frozen=True)
class Move:
    pay: Pay  # as the driver saw it: the guard
    new: PayState
    error_code: str | None = None
    biller_txn_id: str | None = None
    biller_code: str | None = None
    sms: Sms | None = None  # the depositor's SMS, queued with a final move
    ledger: Request | None = None  # applied first, in the move's transaction


Result = Pay | Exception


def ledger_requests(moves: Sequence[Move]) -> int:
    """How many ledger requests the batch carries."""
    return sum(m.ledger is not None for m in moves)


async def apply(conn: Connection, moves: Sequence[Move]) -> list[Result]:
    """On the asyncio side: the batch, answered move by move, in order."""
    if not ledger_requests(moves):
        return list(_answers(moves, await _update(conn, moves)))
    return await _in_transaction(conn, moves)


async def _in_transaction(conn: Connection, moves: Sequence[Move]) -> list[Result]:
    """A batch the database refuses for its content is applied one move at a time, so
    one bad request never fails its neighbours; a server that does not answer leaves
    every move's outcome unknown (``LedgerUnavailable``: the driver asks again and the
    ledger answers the replay)."""
    for attempt in range(MAX_LEDGER_ATTEMPTS):
        try:
            return await _ledger_then_move(conn, moves)
        except ledger_store.RETRYABLE:
            if attempt == MAX_LEDGER_ATTEMPTS - 1:
                raise
        except ledger_store.CONTENT_ERRORS as exc:
            if len(moves) == 1:
                return [LedgerError(f"refused by the database: {exc}")]
            return [r for m in moves for r in await _in_transaction(conn, [m])]
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            unknown = LedgerUnavailable(f"ledger database did not answer: {exc!r}")
            return [unknown for _ in moves]
    raise AssertionError("unreachable")


async def _ledger_then_move(conn: Connection, moves: Sequence[Move]) -> list[Result]:
    """Each move's ledger request, then the moves whose request the ledger took (and
    those that carried none): one statement."""
    # ledger_apply takes a key once per call; one pay has one driver, so a key twice
    # means two copies of one move: the second is told to read the pay again.
    requests: dict[str, Request] = {}
    results: dict[int, Result] = {}
    going: list[tuple[int, Move, int | None]] = []  # (index, move, its request's place)
    for i, m in enumerate(moves):
        if m.ledger is None:
            going.append((i, m, None))
        elif m.ledger.key in requests:
            results[i] = PayConflict(f"pay {m.pay.id}: its ledger request twice in one batch")
        else:
            requests[m.ledger.key] = m.ledger
            going.append((i, m, len(requests)))
    rows = await conn.fetch(
        MOVES_WITH_LEDGER_SQL,
        *_columns([m for _, m, _ in going]),
        [n for _, _, n in going],
        *ledger_store.request_columns(list(requests.values())),
        TransferState.REJECTED,
        list(TAKEN_CODES),
        [m.sms.template_id if m.sms else None for _, m, _ in going],
    )
    for (i, m, _), row in zip(going, rows, strict=True):
        results[i] = _answer(m, row)
    return [results[i] for i in range(len(moves))]


def _answer(move: Move, row: asyncpg.Record) -> Result:
    """The ledger's answer to the move's request (a refusal moved nothing), then the
    pay as moved, or a conflict (its guard failed)."""
    if move.ledger is not None:
        answer = (row["l_code"], row["l_transfer_id"], row["l_state"], row["l_amount"])
        try:
            transfer_result(move.ledger, answer)
        except LedgerError as exc:
            assert row["id"] is None, f"pay {move.pay.id} moved on a refused request"
            return exc
    if row["id"] is None:
        return PayConflict(f"pay {move.pay.id} is no longer {move.pay.state}")
    return pay_from_row(row)


def _columns(moves: Sequence[Move]) -> list[list[Any]]:
    return [
        [m.pay.id for m in moves],
        [m.pay.state.value for m in moves],
        [m.new.value for m in moves],
        [m.error_code for m in moves],
        [m.biller_txn_id for m in moves],
        [m.sms.body if m.sms else None for m in moves],
        [m.biller_code for m in moves],
    ]


async def _update(conn: Connection, moves: Sequence[Move]) -> list[asyncpg.Record]:
    if not moves:
        return []
    templates = [m.sms.template_id if m.sms else None for m in moves]
    return await conn.fetch(MOVES_SQL, *_columns(moves), templates)


def _answers(moves: Sequence[Move], rows: Sequence[asyncpg.Record]) -> list[Pay | Exception]:
    by_id = {r["id"]: pay_from_row(r) for r in rows}
    return [
        by_id.get(m.pay.id) or PayConflict(f"pay {m.pay.id} is no longer {m.pay.state}")
        for m in moves
    ]
