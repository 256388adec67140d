"""Small helpers for tests that need to look at the database directly."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from switch.config import Config, ServicesConfig
from switch.services import postgres, standby
from switch.services import stop as stop_services


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a fresh connection (from sync or trio code: it uses its own loop)."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def scalar(url: str, sql: str, *args: Any) -> Any:
    rows = query(url, sql, *args)
    return rows[0][0] if rows else None


def with_terminals(cfg: Config, **changes: object) -> Config:
    return cfg.replace(terminals=dataclasses.replace(cfg.terminals, **changes))


def books(url: str) -> tuple[int, int]:
    """What a refused request must not change: transfers and pays."""
    return scalar(url, "SELECT count(*) FROM transfers"), scalar(url, "SELECT count(*) FROM pays")


def switch_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``switch ARGS...`` in a child process with exactly this environment."""
    return subprocess.run(
        [sys.executable, "-m", "switch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def one_terminal(sw: Any, wallet_paise: int = 0) -> Any:
    """One agent with one terminal on the running switch ``sw``; its credentials."""
    [creds] = await agent_with_terminals(sw, 1, wallet_paise)
    return creds


async def agent_with_terminals(
    sw: Any, terminals: int, wallet_paise: int = 0, out_dir: Any = None
) -> list[Any]:
    """One agent with ``terminals`` terminals on the running switch ``sw`` (their
    credentials files written to ``out_dir`` if given)."""
    from switch.protocols.terminal.crypto import public_bytes
    from switch.provisioning.fleet import provision_fleet

    return await provision_fleet(
        sw.db,
        sw.ledger,
        public_bytes(sw.deps.identity),
        f"127.0.0.1:{sw.port}",
        agents=1,
        terminals_per_agent=terminals,
        wallet_paise=wallet_paise,
        out_dir=out_dir,
    )


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    """A real PNG (uploads are decoded, not sniffed)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@contextmanager
def primary_with_standby(data_dir: Path, migrated: bool = False) -> Iterator[ServicesConfig]:
    """An embedded primary of a test's own (migrated if asked) with a synchronous
    standby; both stopped afterwards, with Redis if a command started it."""
    cfg = ServicesConfig(data_dir=str(data_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        postgres.start(cfg)
        if migrated:
            asyncio.run(_migrate(postgres.url(cfg)))
        standby.make_standby(cfg)
    try:
        yield cfg
    finally:
        stop_services(cfg)


async def _migrate(url: str) -> None:
    from switch.db.migrate import migrate

    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
