"""The consumer's pages in a real browser on a phone-sized screen (Debian's chromium,
driven by Playwright): a payment link paid through the UPI app, and the account's own
pages signed in by a code from the SMS, in English and in Hindi. No page breaks its
content security policy; screenshots are kept as in tests/web/test_browser.py."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from simulators.discom.simulator import discom_account
from tests.consumers.test_self_service import MOBILE, paid_at_a_shop
from tests.links.conftest import VPA, LinkWorld
from tests.web.test_browser import in_browser, pytestmark, shots_dir  # noqa: F401

try:
    from playwright.sync_api import Page
except ImportError:  # pragma: no cover - the test extra installs it
    Page = Any  # type: ignore[misc,assignment]

PHONE = {"width": 390, "height": 844}


def on_a_phone(
    base_url: str, shots: Path, script: Callable[[Page, Callable[[str], None]], Any]
) -> list[str]:
    return in_browser(base_url, shots, script, PHONE)


def messages_to(lw: LinkWorld, mobile: str) -> list[str]:
    """The SMS the gateway got for ``mobile`` (read from the browser's thread)."""
    for _ in range(100):
        try:
            return [m["body"] for m in list(lw.world.sms.messages.values()) if m["to"] == mobile]
        except RuntimeError:  # the dict grew as it was read
            time.sleep(0.01)
    return []


def wait_for(found: Callable[[], str | None], timeout_s: float = 10) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("not found in time")


def approve_in_the_upi_app(lw: LinkWorld) -> None:
    gw = f"http://127.0.0.1:{lw.gateway_port}"
    with urllib.request.urlopen(f"{gw}/v1/app/requests?vpa={VPA}") as r:
        [request] = json.load(r)["requests"]
    body = json.dumps({"approve": True}).encode()
    call = urllib.request.Request(f"{gw}/v1/app/requests/{request['order_id']}", body)
    with urllib.request.urlopen(call) as r:
        assert r.status == 200


async def test_a_link_is_paid_and_an_account_seen_on_a_phone(
    links: LinkWorld, tmp_path: Path
) -> None:
    base_url = str(links.admin.http.base_url)
    shots = shots_dir(tmp_path)
    link_mobile = "9876533001"
    await links.demand("UPPCL", {"account": discom_account(1, 41), "mobile": link_mobile})
    link = urlsplit(await links.link_sms(link_mobile)).path
    account = discom_account(1, 42)
    await paid_at_a_shop(links, account, "PH1")

    def pay_the_link(page: Page, shot: Callable[[str], None]) -> None:
        page.goto(link)
        assert "Amount due" in page.inner_text("dl.facts")
        shot("consumer-link")
        page.fill("input[name=vpa]", VPA)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Approve the request")
        approve_in_the_upi_app(links)
        page.wait_for_selector("text=Paid. Thank you.", timeout=20_000)  # it refreshes itself
        shot("consumer-link-paid")
        receipt = page.get_attribute("a[href*='/r/']", "href")
        assert receipt and page.request.get(receipt).headers["content-type"] == "application/pdf"
        forged = page.goto(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
        assert forged is not None and forged.status == 404
        assert "not valid" in page.inner_text("main")

    def see_the_account(page: Page, shot: Callable[[str], None]) -> None:
        page.goto("/me/")
        page.select_option("select[name=biller]", "UPPCL")
        page.fill("input[name=account]", account)
        page.fill("input[name=mobile]", MOBILE)
        page.click("button[type=submit]")
        page.wait_for_selector("input[name=code]")

        def code() -> str | None:
            found = [re.search(r"code is (\d{6})", b) for b in messages_to(links, MOBILE)]
            return next((m.group(1) for m in found if m), None)

        page.fill("input[name=code]", wait_for(code))
        page.click("button[type=submit]")
        page.wait_for_selector("#payments")
        assert "posted" in page.inner_text("#payments")
        page.select_option("select[name=category]", "not_credited")
        page.fill("input[name=description]", "Still shown as due")
        page.click("text=Raise a complaint")
        page.wait_for_selector("#notice")
        assert "logged" in page.inner_text("#complaints")
        shot("consumer-account")
        page.click("a[lang=hi]")
        page.wait_for_selector("text=हमारे माध्यम से आपके भुगतान")
        shot("consumer-account-hi")

    for script in (pay_the_link, see_the_account):
        violations = await trio.to_thread.run_sync(on_a_phone, base_url, shots, script)
        assert violations == [], violations
    assert {p.name for p in shots.iterdir()} >= {
        "consumer-link-paid.png",
        "consumer-account-hi.png",
    }
