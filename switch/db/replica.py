"""Read-only work on a standby: reports, searches and reconciliation reads.

A streaming standby replays the primary's writes a few milliseconds behind it. Queries
that move no money and need no answer newer than that (MIS reports, transaction
search, the reconciliation case list, an agent's statement) can run there and leave
the primary its CPU for pays. ``[services] replica_url`` names the standby; without
it, those reads go to the primary as everything else does.

The standby may be down, or promoted and gone, or cancel a long query that conflicts
with the writes it replays. Then the read is run on the primary instead, and the
standby is left alone for ``COOL_OFF_S`` before it is asked again: a report is never
refused because the standby is away.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import trio

from switch.db import Connection
from switch.db.database import Database
from switch.db.periodic import DATABASE_ERRORS

log = logging.getLogger("switch.db")
T = TypeVar("T")
COOL_OFF_S = 5.0
REPLICA_POOL_SIZE = 4
# Any database failure: the standby down or starting, not a standby any more (the
# URL asks for a read-only server), or a query it cancelled because its replay had
# to remove the rows it read (SQLSTATE 40001).
REPLICA_FAILURES: tuple[type[Exception], ...] = (
    *DATABASE_ERRORS,
    asyncpg.TargetServerAttributeNotMatched,
)


@dataclass
class ReplicaStats:
    on_replica: int = 0
    on_primary: int = 0  # the standby failed, or was cooling off
    failures: int = 0


class ReplicaReads(Database):
    """A ``Database`` whose queries run on the standby, or on the primary when the
    standby fails. Only for reads: nothing written through it would be on record."""

    def __init__(self, replica: Database, primary: Database) -> None:
        super().__init__(replica.url, replica.bridge, replica.pool)
        self._primary = primary
        self._rest_until = float("-inf")
        self.stats = ReplicaStats()

    def statistics(self) -> ReplicaStats:
        return self.stats

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        if trio.current_time() >= self._rest_until:
            try:
                result = await super().run(fn)
                self.stats.on_replica += 1
                return result
            except REPLICA_FAILURES as exc:
                self.stats.failures += 1
                self._rest_until = trio.current_time() + COOL_OFF_S
                log.warning("reads go to the primary for %.0f s: the standby failed: %r",
                            COOL_OFF_S, exc)  # fmt: skip
        self.stats.on_primary += 1
        return await self._primary.run(fn)


@asynccontextmanager
async def replica_reads(url: str, primary: Database) -> AsyncIterator[Database]:
    """Reads on the standby at ``url``; on the primary itself when ``url`` is empty.
    The standby need not be up when this opens (its pool connects on first use)."""
    if not url:
        yield primary
        return
    async with Database.open(url, REPLICA_POOL_SIZE, min_size=0) as replica:
        yield ReplicaReads(replica, primary)
