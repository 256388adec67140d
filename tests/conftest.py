"""Test fixtures: real embedded PostgreSQL and Redis, one fresh database per test.

The servers start once per test session in a temporary data directory. The schema is
migrated once into a template database; each test gets its own copy (CREATE DATABASE
... TEMPLATE is a file copy, ~50 ms), so tests never see each other's money.
Every test that uses the ``ledger`` fixture has the ledger's invariants checked after
it, whatever it did.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from switch.config import LedgerConfig, ServicesConfig
from switch.db.migrate import migrate
from switch.ledger import Ledger
from switch.services import ServiceUrls, ensure_running, postgres, stop

TEMPLATE_DB = "switch_template"


@pytest.fixture(scope="session")
def services_config(tmp_path_factory: pytest.TempPathFactory) -> ServicesConfig:
    return ServicesConfig(data_dir=str(tmp_path_factory.mktemp("services")))


@pytest.fixture(scope="session")
def services(services_config: ServicesConfig) -> Iterator[ServiceUrls]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        urls = ensure_running(services_config)
    try:
        yield urls
    finally:
        stop(services_config)


@pytest.fixture(scope="session")
def template_db(services: ServiceUrls, services_config: ServicesConfig) -> str:
    postgres.psql(services_config, f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
    postgres.psql(services_config, f'CREATE DATABASE "{TEMPLATE_DB}"')
    url = postgres.url(services_config, TEMPLATE_DB)

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(run())
    return TEMPLATE_DB


@pytest.fixture
def database_url(template_db: str, services_config: ServicesConfig) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.psql(services_config, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield postgres.url(services_config, name)
    finally:
        postgres.psql(services_config, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def ledger_config() -> LedgerConfig:
    return LedgerConfig(expiry_sweep_interval_s=0.1)


@pytest.fixture
async def ledger(database_url: str, ledger_config: LedgerConfig) -> AsyncIterator[Ledger]:
    async with Ledger.open(database_url, ledger_config) as led:
        yield led
        violations = await led.check_invariants()
        assert violations == [], "ledger invariants broken after the test:\n" + "\n".join(
            violations
        )


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
