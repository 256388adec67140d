"""Switch processes in tests: their environment, waiting for them, provisioning their
terminals, and the ledger's invariants afterwards (the workers and HAProxy tests)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from switch.db.database import Database
from switch.ledger import Ledger
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ServiceUrls


def switch_env(
    tmp_path: Path, database_url: str, services: ServiceUrls, **settings: str
) -> dict[str, str]:
    """The environment of a ``switch serve`` in a test: this test's database and
    Redis, ``tmp_path``'s switch.key and switch.toml, no SMS, and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return env | {
        "SWITCH_CONFIG": str(tmp_path / "switch.toml"),
        "SWITCH_DATA_DIR": str(tmp_path / "data"),
        "SWITCH_DATABASE_URL": database_url,
        "SWITCH_REDIS_URL": services.redis_url,
        "SWITCH_TERMINALS_IDENTITY_KEY_FILE": str(tmp_path / "switch.key"),
        "SWITCH_SMS_ENABLED": "false",
        "SWITCH_PARTNERS_PORT": "0",  # several switches at once: no fixed port each
        **settings,
    }


def wait_until(check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


async def provision(
    url: str, identity: Path, port: int, terminals: int, wallet_paise: int = 100_000_00
) -> list[Credentials]:
    """One agent with ``terminals`` terminals of the switch whose key is ``identity``,
    connecting to 127.0.0.1:``port``."""
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        return await provision_fleet(
            db, ledger, public_bytes(load_or_create(identity)), f"127.0.0.1:{port}",
            agents=1, terminals_per_agent=terminals, wallet_paise=wallet_paise,
        )  # fmt: skip


async def invariants(url: str) -> list[str]:
    async with Database.open(url, 2) as db, Ledger.open(db) as ledger:
        return await ledger.check_invariants()
