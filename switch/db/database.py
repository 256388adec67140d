"""One PostgreSQL connection pool behind the asyncio bridge, for trio callers.

Each method is one round trip and one bridge crossing. The ledger batches its own
writes; the rest of the switch (provisioning, pay records, reports) uses these.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import trio

from switch.db import Connection
from switch.db.bridge import AsyncioBridge

T = TypeVar("T")


class Database:
    def __init__(self, url: str, bridge: AsyncioBridge, pool: asyncpg.Pool) -> None:
        self.url = url
        self.bridge = bridge
        self.pool = pool

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, pool_size: int = 32, min_size: int = 1
    ) -> AsyncIterator[Database]:
        """A pool of up to ``pool_size`` connections (``min_size`` made at once: 0
        for a server that may be down when this opens)."""
        bridge = AsyncioBridge("db-asyncio")
        bridge.start()
        try:
            pool = await bridge.run(_create_pool(url, pool_size, min_size))
            try:
                yield cls(url, bridge, pool)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(10):
                    await bridge.run(pool.close())
        finally:
            bridge.stop()

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` on a pooled connection, on the asyncio side."""

        async def call() -> T:
            async with self.pool.acquire() as conn:
                return await fn(conn)

        return await self.bridge.run(call())

    def start(self, fn: Callable[[Connection], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Start ``fn(conn)`` on the asyncio side now, without waiting: ``wait`` for its
        result later (``run`` is the two at once)."""

        async def call() -> T:
            async with self.pool.acquire() as conn:
                return await fn(conn)

        self.bridge.calls += 1
        return self.bridge.submit(call())

    async def wait(self, started: concurrent.futures.Future[T]) -> T:
        return await self.bridge.wait(started)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.run(lambda c: c.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.run(lambda c: c.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.run(lambda c: c.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.run(lambda c: c.execute(sql, *args))


async def _create_pool(url: str, size: int, min_size: int) -> asyncpg.Pool:
    # reset=None-ish: asyncpg's default runs a RESET query on every release (an extra
    # round trip per query, measured at 10% of the switch's CPU). Nothing here changes
    # session state (no SET, no LISTEN, no temp tables), so there is nothing to reset.
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=size, command_timeout=60, reset=_no_reset
    )


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None
