import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

from switch.db import migrate as migrate_mod
from switch.db.migrate import MigrationError, current_version, migrate, shipped_migrations

T = TypeVar("T")


def on_connection(url: str, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    assert on_connection(database_url, current_version) == len(shipped_migrations())
    assert on_connection(database_url, migrate) == []


def test_an_edited_migration_is_refused(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    edited = [
        migrate_mod.Migration(m.version, m.name, m.sql + "\n-- edited")
        for m in shipped_migrations()
    ]
    monkeypatch.setattr(migrate_mod, "shipped_migrations", lambda: edited)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        on_connection(database_url, migrate)


def test_versions_are_contiguous() -> None:
    versions = [m.version for m in shipped_migrations()]
    assert versions == list(range(1, len(versions) + 1))
