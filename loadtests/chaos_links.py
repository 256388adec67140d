"""The chaos run's payment links: consumers paying bills by link while the gateway
misbehaves (its callbacks missing, late or duplicated, a share of approvals failing at
the payer's bank, its status inquiries down) and the switch is SIGKILLed, PostgreSQL
and Redis fail as in the rest of the run. Then every rupee the gateway collected is
accounted for: a posted link pay, or refunded; the settlement account holds nothing;
no link is paid twice.

Each payer is one consumer (an account the terminals never pay), whose link comes from
a biller's demand pushed through the admin API, opened and paid as on a phone; the
payer's UPI app approves by itself. Requests that meet a restarting switch are tried
again, a few times, with a pause.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from switch.admin.auth import Auth
from switch.admin.users import create_user
from switch.config import AdminConfig
from switch.db.database import Database
from switch.links.store import GATEWAY_AGENT_ID

SECRET = "chaos-gateway-secret-" + "x" * 8
BEHAVIOURS: list[tuple[str, dict[str, Any]]] = [
    ("callback never", {"callback": "never"}),
    ("callback late", {"callback": "late", "late_s": 3.0}),
    ("callback duplicate", {"callback": "duplicate", "late_s": 1.0}),
    ("approvals failing", {"fail_share": 0.4}),
    ("status inquiries down", {"status_down": True}),
]
NORMAL = {"callback": "normal", "fail_share": 0.0, "status_down": False}
TRIES = 20  # a request that meets a restarting switch: tried again this often ...
TRY_PAUSE_S = 0.5  # ... this far apart
SETTLE_S = 90.0


def config_section(gateway_port: int) -> str:
    return f"""[gateway]
enabled = true
endpoint = "http://127.0.0.1:{gateway_port}"
secret = "{SECRET}"
collect_expiry_s = 15.0
check_interval_s = 0.5
backoff_base_s = 0.5
backoff_max_s = 3.0
"""


USERNAME = "chaos-links"


async def add_operator(db: Database) -> str:
    """The operations login that pushes the demands; its password."""
    password = secrets.token_urlsafe(12)
    await create_user(db, Auth(db, AdminConfig()), "chaos", USERNAME, "operations",
                      "9000000002", password)  # fmt: skip
    return password


@dataclass
class LinkPayers:
    password: str
    admin_port: int
    gateway_port: int
    accounts: Sequence[str]
    rng: random.Random
    injected: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    _token: str = ""

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    async def run(self, duration_s: float) -> None:
        """Pay the accounts over ``duration_s``, and change the gateway's behaviour
        every few seconds."""
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(f"{self.gateway}/v1/admin/behaviour",
                            json={"auto": "approve", "auto_after_s": 0.3})  # fmt: skip
            with trio.move_on_after(duration_s):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._misbehave, http, duration_s)
                    gap_s = duration_s / max(1, len(self.accounts))
                    for account in self.accounts:
                        nursery.start_soon(self._pay, http, account)
                        await trio.sleep(gap_s)
            await http.post(f"{self.gateway}/v1/admin/behaviour", json=NORMAL)

    async def _misbehave(self, http: httpx.AsyncClient, duration_s: float) -> None:
        order = BEHAVIOURS * 2
        self.rng.shuffle(order)
        for name, change in order:
            await http.post(f"{self.gateway}/v1/admin/behaviour", json=NORMAL | change)
            self.injected[f"gateway {name}"] += 1
            await trio.sleep(duration_s / len(order))

    async def _call(
        self, http: httpx.AsyncClient, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        """A request to the switch, tried again while it restarts (None: never answered)."""
        for _ in range(TRIES):
            try:
                if not self._token and not path.startswith("/l/"):
                    r = await http.post(f"{self.admin}/v1/auth/login",
                                        json={"username": USERNAME,
                                              "password": self.password})  # fmt: skip
                    if r.status_code != 200:
                        raise httpx.TransportError(f"login {r.status_code}")
                    self._token = r.json()["token"]
                headers = {"Authorization": f"Bearer {self._token}"}
                r = await http.request(method, f"{self.admin}{path}", headers=headers, **kw)
                if r.status_code == 401:
                    self._token = ""
                    continue
                if r.status_code < 500:
                    return r
            except httpx.TransportError:
                pass
            await trio.sleep(TRY_PAUSE_S)
        return None

    async def _pay(self, http: httpx.AsyncClient, account: str) -> None:
        sent = await self._call(http, "POST", "/v1/billers/UPPCL/demands",
                                json={"consumers": [{"account": account}]})  # fmt: skip
        answer = sent.json() if sent is not None else {}
        results = answer.get("results") if isinstance(answer, dict) else None
        result = results[0] if results else {}
        if "url" not in result:
            why = result.get("error") or (answer.get("error") or {}).get("code") or "no answer"
            status = sent.status_code if sent is not None else "-"
            self.outcomes[f"link not sent: {status} {why}"] += 1
            return
        path = urlsplit(result["url"]).path
        for _attempt in range(3):  # a declined payment: the consumer tries again
            r = await self._call(http, "POST", f"{path}/pay",
                                 data={"vpa": f"{account}@upi"})  # fmt: skip
            if r is None:
                self.outcomes["the switch never answered"] += 1
                return
            if r.status_code == 422:  # the biller could not be reached for the bill
                self.outcomes["page: biller unreachable, tried again"] += 1
                await trio.sleep(1.0)
                continue
            if r.status_code not in (200, 303):
                self.outcomes[f"page answered {r.status_code}"] += 1
                return
            state = await self._wait(http, result["link_id"])
            self.outcomes[f"order {state}"] += 1
            if state != "failed":
                return

    async def _wait(self, http: httpx.AsyncClient, link_id: int) -> str:
        with trio.move_on_after(40):
            while True:
                r = await self._call(http, "GET", f"/v1/links/{link_id}")
                orders = r.json().get("orders", []) if r is not None else []
                if orders and orders[-1]["state"] in ("paid", "refunded", "failed"):
                    return str(orders[-1]["state"])
                await trio.sleep(0.3)
        return "unfinished"


async def settle_links(db: Database) -> bool:
    """Wait until no order holds money on its way (collected, paying, refunding) or
    waits on the gateway (created, pending)."""
    with trio.move_on_after(SETTLE_S):
        while await db.fetchval(  # noqa: ASYNC110 (polls the database)
            """SELECT count(*) FROM link_orders
                WHERE state IN ('created', 'pending', 'collected', 'paying', 'refunding')"""
        ):
            await trio.sleep(0.5)
        return True
    return False


async def account_for_links(db: Database, gateway_port: int) -> dict[str, Any]:
    """The gateway's books against the switch's: figures and violations."""
    violations: list[str] = []
    if not await settle_links(db):
        violations.append("payment-link orders did not settle")
    async with httpx.AsyncClient(timeout=30) as http:
        books = (await http.get(f"http://127.0.0.1:{gateway_port}/v1/admin/books")).json()
    collected = sum(o["amount_paise"] for o in books["orders"] if o["status"] == "success")
    refunded = sum(r["amount_paise"] for r in books["refunds"])
    posted = await db.fetchval(
        """SELECT coalesce(sum(amount_paise), 0)::bigint FROM pays
            WHERE channel = 'link' AND state = 'posted'"""
    )
    if posted != collected - refunded:
        violations.append(
            f"links: the gateway kept {collected - refunded} paise, the switch posted {posted}"
        )
    held = await db.fetchval(
        """SELECT c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id
            WHERE a.id = $1""",
        GATEWAY_AGENT_ID,
    )
    if held:
        violations.append(f"links: {held} paise left in the gateway settlement account")
    twice = await db.fetchval(
        """SELECT count(*) FROM (SELECT link_id FROM link_orders WHERE state = 'paid'
                                  GROUP BY link_id HAVING count(*) > 1) t"""
    )
    if twice:
        violations.append(f"links: {twice} links paid twice")
    states = Counter(r["state"] for r in await db.fetch("SELECT state FROM link_orders"))
    return {
        "link_orders": dict(states),
        "link_paise_collected": collected,
        "link_paise_refunded": refunded,
        "link_paise_posted": posted,
        "violations": violations,
    }
