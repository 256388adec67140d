"""A switch whose payers' ERP is the ERP simulator, with the admin API's users."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from simulators.erp.simulator import ErpSimulator
from simulators.run import start_simulator
from switch.admin.answers import ANSWERS, BULK_ROUTES
from switch.config import BulkConfig, Config
from switch.server import RunningSwitch
from tests.admin.conftest import Admin, admin_of
from tests.admin.test_answers_match_the_spec import check


@pytest.fixture
async def erp(nursery: trio.Nursery, tmp_path: Path) -> tuple[ErpSimulator, int]:
    sim, port = await start_simulator(nursery, "erp", tmp_path / "erp")
    return sim, port


@pytest.fixture
async def switch_config(switch_config: Config, erp: tuple[ErpSimulator, int]) -> Config:
    return switch_config.replace(bulk=BulkConfig(erp_endpoint=f"http://127.0.0.1:{erp[1]}"))


class SpecAdmin(Admin):
    """The admin API's client whose every bulk answer is checked against the spec
    (``BULK_ROUTES``); ``checked`` is what was."""

    spec: dict[str, Any] = {}  # noqa: RUF012 (set per test)
    checked: set[tuple[str, str]] = set()  # noqa: RUF012

    async def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        r = await super().call(who, method, path, **kw)
        route = _route(method, path.partition("?")[0])
        if route is not None and r.status_code == ANSWERS[route][0]:
            check(self.spec, method, route[1], r.status_code, r)
            self.checked.add(route)
        return r


def _route(method: str, path: str) -> tuple[str, str] | None:
    for m, template in BULK_ROUTES:
        pattern = re.sub(r"\{[a-z_]+\}", "[^/]+", template)
        if m == method and re.fullmatch(pattern, path):
            return m, template
    return None


@pytest.fixture
async def admin(switch: RunningSwitch, switch_config: Config) -> AsyncIterator[SpecAdmin]:
    async with admin_of(switch, switch_config) as a:
        checked = SpecAdmin(a.sw, a.cfg, a.http, a.tokens)
        checked.spec = (await a.http.get("/v1/openapi.json")).json()
        checked.checked = set()
        yield checked
