"""A running switch (real PostgreSQL, real sockets) and provisioned terminals."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switch.config import Config, LedgerConfig, TerminalsConfig
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from tests.helpers import scalar


@pytest.fixture
def switch_config(tmp_path: Path) -> Config:
    terminals = TerminalsConfig(
        port=0,
        identity_key_file=str(tmp_path / "switch.key"),
        handshake_timeout_s=1.0,
        frame_timeout_s=1.0,
        idle_timeout_s=2.0,
        shutdown_grace_s=1.0,
    )
    return Config(ledger=LedgerConfig(expiry_sweep_interval_s=0.2), terminals=terminals)


@pytest.fixture
async def switch(switch_config: Config, database_url: str) -> AsyncIterator[RunningSwitch]:
    async with running_switch(switch_config, database_url) as sw:
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


def with_terminals(cfg: Config, **changes: object) -> Config:
    return cfg.replace(terminals=dataclasses.replace(cfg.terminals, **changes))


def books(url: str) -> tuple[int, int]:
    """What a refused request must not change: transfers and pays."""
    return scalar(url, "SELECT count(*) FROM transfers"), scalar(url, "SELECT count(*) FROM pays")
