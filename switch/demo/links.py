"""The demo's payment links: the water scheme's demand pushed for a few consumers (an
operator's login on the admin API), each link opened and paid as a consumer does on
their phone, the payer's UPI app approving by itself (a share of approvals fail at the
payer's bank, and the consumer tries once more).

These consumers are kept apart from the terminals' and the partner's, so a link's bill
is not paid at a shop meanwhile (the page would then rightly refuse it).
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from switch.admin.auth import Auth
from switch.admin.users import create_user
from switch.config import AdminConfig
from switch.db.database import Database

CONSUMERS = 24  # water consumers paid by link in a demo
CONCURRENCY = 6
DECLINED_SHARE = 0.1  # approvals that fail at the payer's bank
FINAL_WITHIN_S = 30.0  # one payment, from "Pay" to paid
USERNAME = "demo-links"


async def pay_by_links(
    db: Database, admin_url: str, gateway_url: str, accounts: Sequence[str]
) -> dict[str, Any]:
    """Send links for ``accounts`` and pay each; the figures of it."""
    password = secrets.token_urlsafe(12)
    await create_user(db, Auth(db, AdminConfig()), "demo", USERNAME, "operations",
                      "9000000001", password)  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(
            f"{gateway_url}/v1/admin/behaviour",
            json={"auto": "approve", "auto_after_s": 0.5, "fail_share": DECLINED_SHARE},
        )
        login = await http.post(
            f"{admin_url}/v1/auth/login", json={"username": USERNAME, "password": password}
        )
        token = login.json()["token"]
        demand = await http.post(
            f"{admin_url}/v1/billers/JALSEWA/demands",
            json={"consumers": [{"account": a} for a in accounts]},
            headers={"Authorization": f"Bearer {token}"},
        )
        results = demand.json()["results"]
        links = [(r["link_id"], r["url"]) for r in results if "link_id" in r]
        figures: dict[str, Any] = {"sent": len(links), "paid": 0, "declined": 0, "not_paid": 0}
        seconds: list[float] = []
        slots = trio.Semaphore(CONCURRENCY)

        async def pay(link_id: int, url: str) -> None:
            async with slots:
                started = time.perf_counter()
                outcome = await _pay_once(http, admin_url, token, link_id, url, figures)
                if outcome != "paid":
                    outcome = await _pay_once(http, admin_url, token, link_id, url, figures)
                if outcome == "paid":
                    figures["paid"] += 1
                    seconds.append(time.perf_counter() - started)
                else:
                    figures["not_paid"] += 1

        async with trio.open_nursery() as nursery:
            for link_id, url in links:
                nursery.start_soon(pay, link_id, url)
    figures["median_s"] = round(statistics.median(seconds), 2) if seconds else None
    return figures


async def _pay_once(
    http: httpx.AsyncClient, admin_url: str, token: str, link_id: int, url: str,
    figures: dict[str, Any],
) -> str:  # fmt: skip
    """One tap on "Pay" (the order's outcome: paid, failed, refunded or unfinished)."""
    path = urlsplit(url).path
    r = await http.post(f"{admin_url}{path}/pay", data={"vpa": f"demo{link_id}@upi"})
    if r.status_code not in (200, 303):
        return "refused"
    with trio.move_on_after(FINAL_WITHIN_S):
        while True:
            link = await http.get(
                f"{admin_url}/v1/links/{link_id}", headers={"Authorization": f"Bearer {token}"}
            )
            orders = link.json().get("orders") or []
            state = orders[-1]["state"] if orders else "none"
            if state in ("paid", "refunded"):
                return str(state)
            if state == "failed":
                figures["declined"] += 1
                return "failed"
            await trio.sleep(0.2)
    return "unfinished"
