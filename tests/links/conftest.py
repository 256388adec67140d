"""The switch with payment links on: the real discom, water, SMS and payment gateway
simulators, the admin API with a user per role. Books checked after each test, the
gateway's among them: every rupee it collected is a posted link pay or refunded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from simulators.gateway.simulator import GatewaySimulator
from simulators.run import start_simulator
from switch.config import Config, GatewayConfig
from switch.links.store import GATEWAY_AGENT_ID
from switch.services import ServiceUrls
from tests.admin.conftest import Admin, admin_of
from tests.billers.conftest import World, open_world

SECRET = "a-test-gateway-secret"
VPA = "ravi@upi"


@dataclass
class LinkWorld:
    world: World
    admin: Admin
    gateway: GatewaySimulator
    page: httpx.AsyncClient  # the consumer's phone: no login, follows no redirects
    gateway_port: int

    @property
    def db(self) -> Any:
        return self.world.switch.db

    async def demand(self, biller: str, *consumers: dict[str, Any]) -> dict[str, Any]:
        r = await self.admin.call(
            "operations", "POST", f"/v1/billers/{biller}/demands", json={"consumers": consumers}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def link_sms(self, mobile: str) -> str:
        """The link in the newest payment-link SMS to ``mobile``, as the gateway sent it."""
        with trio.fail_after(10):
            while True:
                bodies = [m["body"] for m in self.world.sms.messages.values() if m["to"] == mobile]
                links = [re.search(r"(http://\S+/l/\S+)", b) for b in bodies]
                found = [m.group(1) for m in links if m]
                if found:
                    return found[-1]
                await trio.sleep(0.05)

    async def order_state(self, order_id: str, *states: str, timeout_s: float = 15) -> str:
        with trio.fail_after(timeout_s):
            while True:
                state = await self.db.fetchval(
                    "SELECT state FROM link_orders WHERE id = $1", order_id
                )
                if state in states:
                    return str(state)
                await trio.sleep(0.05)


@pytest.fixture
def gateway_changes() -> dict[str, Any]:
    """A test module's own [gateway] settings."""
    return {}


@pytest.fixture
async def links(
    switch_config: Config,
    database_url: str,
    tmp_path: Path,
    services: ServiceUrls,
    gateway_changes: dict[str, Any],
) -> AsyncIterator[LinkWorld]:
    async with trio.open_nursery() as sims:
        gateway, port = await start_simulator(sims, "gateway", tmp_path / "gateway", secret=SECRET)
        gateway_cfg = GatewayConfig(
            enabled=True,
            endpoint=f"http://127.0.0.1:{port}",
            secret=SECRET,
            check_interval_s=0.2,
            backoff_base_s=0.2,
            backoff_max_s=1.0,
            **gateway_changes,
        )
        async with (
            open_world(
                switch_config,
                database_url,
                tmp_path,
                services,
                5.0,
                lambda cfg: cfg.replace(gateway=gateway_cfg),
            ) as world,
            admin_of(world.switch, world.cfg) as admin,
            httpx.AsyncClient(base_url=admin.http.base_url, timeout=30) as page,
        ):
            lw = LinkWorld(world, admin, gateway, page, port)
            yield lw
            await check_gateway_books(lw)
        sims.cancel_scope.cancel()


async def check_gateway_books(lw: LinkWorld) -> None:
    """Once every order has settled: the settlement account holds nothing; each
    order's money is one posted link pay or one refund; the gateway's books and the
    switch's agree; no link is paid twice."""
    db = lw.db
    with trio.fail_after(20):
        while await db.fetchval(  # noqa: ASYNC110
            """SELECT count(*) FROM link_orders
                WHERE state IN ('created', 'collected', 'paying', 'refunding')"""
        ):
            await trio.sleep(0.1)
    wallet = await db.fetchval(
        "SELECT c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id"
        " WHERE a.id = $1",
        GATEWAY_AGENT_ID,
    )
    assert wallet == 0, "money left in the gateway settlement account"
    posted = await db.fetchval(
        """SELECT coalesce(sum(amount_paise), 0) FROM pays
            WHERE channel = 'link' AND state = 'posted'"""
    )
    assert posted == lw.gateway.collected_paise(), "switch posted != gateway kept"
    paid = await db.fetch("SELECT state, paid_order FROM pay_links WHERE state = 'paid'")
    orders_paid = await db.fetch("SELECT link_id FROM link_orders WHERE state = 'paid'")
    assert len(orders_paid) == len({r["link_id"] for r in orders_paid}) == len(paid)
    links_posted = await db.fetchval(
        "SELECT count(*) FROM pays WHERE channel = 'link' AND state = 'posted'"
    )
    assert links_posted == len(paid)
