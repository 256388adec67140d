"""Versioned schema migrations, applied in order, each exactly once.

Migrations are the ``NNNN_name.sql`` files beside this module. Each runs in its own
transaction and is recorded in ``schema_migrations`` with its SHA-256; a recorded
migration whose file has since changed is an error (never edit a shipped migration,
add a new one). An advisory lock makes concurrent ``migrate`` calls from several
switch processes safe: one applies, the others wait and find nothing to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from switch.db import Connection

MIGRATION_LOCK_ID = 7460000


class MigrationError(Exception):
    """The database's schema history does not match the migrations shipped."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def shipped_migrations() -> list[Migration]:
    folder = resources.files("switch.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version, _, rest = entry.name.partition("_")
        found.append(Migration(int(version), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


async def migrate(conn: Connection) -> list[Migration]:
    """Apply every shipped migration not yet applied; return those applied now."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL,
                   checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        recorded = {r["version"]: r for r in rows}
        for m in shipped_migrations():
            row = recorded.get(m.version)
            if row is not None:
                if row["checksum"] != m.checksum:
                    raise MigrationError(
                        f"migration {m.version} ({m.name}) changed after it was applied"
                    )
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )
            applied_now.append(m)
        unknown = set(recorded) - {m.version for m in shipped_migrations()}
        if unknown:
            raise MigrationError(
                f"database has migrations this code does not know: {sorted(unknown)}"
            )
    return applied_now


async def current_version(conn: Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
