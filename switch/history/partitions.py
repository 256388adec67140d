"""The monthly partitions: made ahead by the switch, listed for operators.

An insert into a month with no partition fails (there is no default partition that
would hide it and later block making the month's own), so every switch process
makes this month's and the next ``MONTHS_AHEAD`` at start and every hour; making
them is idempotent and serialised in the database by an advisory lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from switch.db import Connection
from switch.db.database import Database
from switch.db.periodic import every
from switch.history.months import ID_PER_MONTH, TABLES, month_of_id

MONTHS_AHEAD = 3
MAKE_INTERVAL_S = 3600.0
MAKE_DEADLINE_S = 60.0

PARTITIONS_SQL = """
SELECT parent.relname AS table_name, child.relname AS partition_name,
       pg_get_expr(child.relpartbound, child.oid) AS bounds,
       child.reltuples::bigint AS rows_estimate,
       pg_total_relation_size(child.oid) AS bytes
  FROM pg_inherits i
  JOIN pg_class parent ON parent.oid = i.inhparent
  JOIN pg_class child ON child.oid = i.inhrelid
 WHERE parent.relname = ANY ($1::text[]) AND parent.relnamespace = 'public'::regnamespace
 ORDER BY parent.relname, child.relname
"""


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: dt.date | None  # None: the legacy partition (rows from before partitioning)
    rows_estimate: int  # PostgreSQL's estimate (-1 before the first ANALYZE)
    bytes: int


async def make_ahead(conn: Connection, months_ahead: int = MONTHS_AHEAD) -> int:
    """Make the missing partitions of this month and the next ``months_ahead``;
    returns how many were made. Never remakes a month that was archived."""
    made: int = await conn.fetchval("SELECT history_make_partitions($1)", months_ahead)
    return made


async def list_partitions(conn: Connection) -> list[Partition]:
    rows = await conn.fetch(PARTITIONS_SQL, list(TABLES))
    out = []
    for r in rows:
        suffix = r["partition_name"].removeprefix(r["table_name"] + "_")
        month = None if suffix == "legacy" else month_of_id(int(suffix) * ID_PER_MONTH)
        out.append(
            Partition(r["table_name"], r["partition_name"], month, r["rows_estimate"], r["bytes"])
        )
    return out


async def keep_made(db: Database) -> None:
    """For the switch's supervisor: make partitions ahead now and every hour."""

    async def step() -> None:
        await db.run(make_ahead)

    await every("making history partitions", MAKE_INTERVAL_S, MAKE_DEADLINE_S, step)
