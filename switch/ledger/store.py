"""The ledger's SQL, run on the asyncio side of the bridge (asyncpg).

Every function here is a coroutine for the asyncio loop; ``switch.ledger.api`` wraps
them for trio. Only this module and the migrations know the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from switch.db import Connection
from switch.ledger.batcher import BatchRejected, Row
from switch.ledger.errors import LedgerUnavailable
from switch.ledger.requests import Op, Request

APPLY_SQL = (
    "SELECT r_code, r_transfer_id, r_state, r_amount FROM ledger_apply($1, $2, $3, $4, $5, $6)"
)

# Errors that say "this batch's content is wrong", as opposed to "the server is gone".
CONTENT_ERRORS = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    asyncpg.exceptions.RaiseError,
    asyncpg.exceptions.NumericValueOutOfRangeError,
)
RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


async def apply_batch(pool: asyncpg.Pool, batch: Sequence[Request]) -> list[Row]:
    for attempt in range(3):
        try:
            async with pool.acquire() as conn:
                return await apply_requests(conn, batch)
        except RETRYABLE:
            if attempt == 2:
                raise
        except CONTENT_ERRORS as exc:
            raise BatchRejected(str(exc)) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            # The server is away, stopping or starting (connection errors, "terminating
            # connection due to administrator command", "the database system is
            # starting up"): the batch's outcome is unknown, not refused.
            raise LedgerUnavailable(str(exc)) from exc
    raise AssertionError("unreachable")


async def apply_requests(conn: Connection, batch: Sequence[Request]) -> list[Row]:
    """``ledger_apply`` for ``batch`` on the caller's connection (in the caller's
    transaction, if it has one): one row per request, in order. No key twice."""
    records = await conn.fetch(APPLY_SQL, *request_columns(batch))
    return [(r[0], r[1], r[2], r[3]) for r in records]


def request_columns(batch: Sequence[Request]) -> list[list[Any]]:
    """``ledger_apply``'s six parallel arrays (op, key, debit, credit, amount,
    timeout) for ``batch``."""
    return [
        [r.op for r in batch],
        [r.key for r in batch],
        [r.debit for r in batch],
        [r.credit for r in batch],
        [r.amount for r in batch],
        [r.timeout_ms for r in batch],
    ]


LEDGER_LOCK = 7460001  # ledger_apply's advisory lock (migration 0002)


async def lock(conn: Connection) -> None:
    """Take the ledger's lock for the caller's transaction: no batch moves money until
    it commits, so balances read after this are the ones its transfers start from."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LEDGER_LOCK)


async def apply_in_transaction(
    conn: Connection, transfers: Sequence[tuple[str, int, int, int]]
) -> list[int]:
    """Single-phase transfers ``(key, debit, credit, amount)`` applied on the caller's
    connection, inside the caller's transaction: for steps that must move money and
    change their own records atomically (settling a window, resolving a case). The
    ledger's lock serialises them with the group-committed batches. Returns the
    result code of each (0 applied, 1 replay, else refused: the caller rolls back)."""
    if not transfers:
        return []
    requests = [
        Request(Op.TRANSFER, key, debit, credit, amount, 0)
        for key, debit, credit, amount in transfers
    ]
    return [row[0] for row in await apply_requests(conn, requests)]


async def expire(pool: asyncpg.Pool, limit: int) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT ledger_expire($1)", limit))


async def open_account(pool: asyncpg.Pool, kind: str, code: str, name: str) -> asyncpg.Record:
    """Create the account, or return the existing one with this code."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """INSERT INTO accounts (kind, code, name, may_go_negative)
               SELECT $1, $2, $3, k.may_go_negative FROM account_kinds k WHERE k.kind = $1
               ON CONFLICT (code) DO NOTHING
               RETURNING id, kind, code, name, balance_paise""",
            kind,
            code,
            name,
        )
        if row is None:
            row = await conn.fetchrow(
                "SELECT id, kind, code, name, balance_paise FROM accounts WHERE code = $1", code
            )
        assert row is not None, "an account code that conflicted must exist"
        return row


async def open_accounts(
    pool: asyncpg.Pool, kind: str, codes: Sequence[str], names: Sequence[str]
) -> list[asyncpg.Record]:
    """Bulk form of ``open_account``: one round trip for many accounts."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO accounts (kind, code, name, may_go_negative)
               SELECT $1, c.code, c.name, k.may_go_negative
                 FROM unnest($2::text[], $3::text[]) AS c(code, name)
                 JOIN account_kinds k ON k.kind = $1
               ON CONFLICT (code) DO NOTHING""",
            kind,
            list(codes),
            list(names),
        )
        return await conn.fetch(
            """SELECT a.id, a.kind, a.code, a.name, a.balance_paise
                 FROM unnest($1::text[]) WITH ORDINALITY AS c(code, n)
                 JOIN accounts a ON a.code = c.code ORDER BY c.n""",
            list(codes),
        )


async def fetch_account(
    pool: asyncpg.Pool, *, account_id: int | None = None, code: str | None = None
) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        if account_id is not None:
            return await conn.fetchrow(
                "SELECT id, kind, code, name, balance_paise FROM accounts WHERE id = $1", account_id
            )
        return await conn.fetchrow(
            "SELECT id, kind, code, name, balance_paise FROM accounts WHERE code = $1", code
        )


async def fetch_transfer(pool: asyncpg.Pool, key: str) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            """SELECT t.id, t.idem_key, t.phases, t.debit_account_id, t.credit_account_id,
                      t.amount_paise, t.state, t.created_at, t.expires_at, t.resolved_at
                 FROM transfer_keys k JOIN transfers t ON t.id = k.transfer_id
                WHERE k.idem_key = $1""",
            key,
        )


async def fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *args)
