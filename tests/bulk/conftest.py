"""A switch whose payers' ERP is the ERP simulator, with the admin API's users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from simulators.erp.simulator import ErpSimulator
from simulators.run import start_simulator
from switch.config import BulkConfig, Config
from switch.server import RunningSwitch
from tests.admin.conftest import Admin, admin_of


@pytest.fixture
async def erp(nursery: trio.Nursery, tmp_path: Path) -> tuple[ErpSimulator, int]:
    sim, port = await start_simulator(nursery, "erp", tmp_path / "erp")
    return sim, port


@pytest.fixture
async def switch_config(switch_config: Config, erp: tuple[ErpSimulator, int]) -> Config:
    return switch_config.replace(bulk=BulkConfig(erp_endpoint=f"http://127.0.0.1:{erp[1]}"))


@pytest.fixture
async def admin(switch: RunningSwitch, switch_config: Config) -> AsyncIterator[Admin]:
    async with admin_of(switch, switch_config) as a:
        yield a
