"""One Redis client on the database's asyncio loop, with keys namespaced per database.

Redis keeps counters that several switch processes share (the per-day wallet limit,
sign-in windows); PostgreSQL stays the book of record. Keys are prefixed with the
database's name and oid, so tests' and demos' fresh databases on one Redis never
share a counter with an earlier database of the same name.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from switch.db.database import Database


async def open_redis(db: Database, url: str, prefix: str, timeout_s: float) -> tuple[Any, str]:
    """A client whose calls give up after ``timeout_s``, and the key namespace
    ``prefix:<database>:<oid>`` for this database."""
    row = await db.fetchrow(
        "SELECT datname, oid FROM pg_database WHERE datname = current_database()"
    )
    assert row is not None

    async def connect() -> Any:
        return aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    client = await db.bridge.run(connect())
    return client, f"{prefix}:{row['datname']}:{row['oid']}"
