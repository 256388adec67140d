"""The pages in a real browser: Debian's chromium, driven by Playwright (no browser is
downloaded). Staff and an agent do their work by clicking; no page breaks its own
content security policy; a screenshot of each main page is kept.

Screenshots go to ``$SWITCH_SCREENSHOTS_DIR`` (docs/web/ keeps the ones the docs
show), else to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from simulators.epos.connection import connect
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import PASSWORD, Admin, application
from tests.web.conftest import agent_password, agent_with_a_payment
from tests.web.test_onboarding_pages import a_photo
from tests.web.test_pages import open_case

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or ""
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    not CHROMIUM or sync_playwright is None,
    reason="needs Debian's chromium (apt install chromium) and playwright (pip)",
)


def shots_dir(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SWITCH_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


def in_browser(
    base_url: str,
    shots: Path,
    script: Callable[[Page, Callable[[str], None]], Any],
    phone: dict[str, int] | None = None,
) -> list[str]:
    """Run ``script`` on a fresh page (a phone's, of that size, if ``phone``); returns
    the page's CSP violations."""
    assert sync_playwright is not None
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            viewport = phone or {"width": 1280, "height": 800}
            context = browser.new_context(
                base_url=base_url, viewport=viewport, is_mobile=phone is not None
            )
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.set_default_timeout(15_000)

            def shot(name: str) -> None:
                # The whole page, but no taller than two screens (the API's docs are long).
                height = min(page.evaluate("document.documentElement.scrollHeight"), 1600)
                clip = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True, clip=clip)

            script(page, shot)
        finally:
            browser.close()
    return violations


def sign_in(page: Page, portal: str, username: str, password: str) -> None:
    page.goto(f"{portal}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")


async def test_staff_and_an_agent_do_their_work_in_chromium(admin: Admin, tmp_path: Path) -> None:
    agent, _, txn = await agent_with_a_payment(admin, 1)
    await agent_with_a_payment(admin, 2)
    agent_secret = await agent_password(admin, agent)
    case = await open_case(admin, txn)
    base_url = f"http://127.0.0.1:{admin.sw.admin_port}"
    shots = shots_dir(tmp_path)

    def operations(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "operations", PASSWORD)
        page.wait_for_url("**/office/")
        assert page.is_visible("text=Transactions")
        shot("office-home")
        page.click("ul.tiles a >> nth=0")
        page.fill("input[name=agent_id]", agent)
        page.click("form.filters button[type=submit]")
        link = page.locator(f"a[href='/office/transactions/{txn}']")
        link.wait_for()  # htmx swapped the results in place
        assert page.url.endswith("/office/transactions")  # no filter in the URL
        assert link.count() == 1
        assert page.locator("#results").inner_text().count("₹1,234.50") == 1
        shot("office-transactions")
        link.click()
        page.wait_for_url(f"**/office/transactions/{txn}")
        assert "posted to the biller" in page.inner_text("ol.story")
        shot("office-pay")
        page.goto("/v1/docs")  # Swagger UI from the package: this machine has no internet
        page.wait_for_selector(".opblock")
        assert page.locator(".opblock").count() > 30
        shot("api-docs")

    def support(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "support", PASSWORD)
        page.wait_for_url("**/office/")
        assert page.locator("text=MIS reports").count() == 0
        response = page.goto("/office/reports")
        assert response is not None and response.status == 403
        assert "may not reports.totals" in page.inner_text("main")
        shot("office-403")

    def finance(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "finance", PASSWORD)
        page.wait_for_url("**/office/")
        page.click("text=MIS reports")
        page.wait_for_url("**/office/reports")
        chart = page.locator("img.chart")
        chart.wait_for()
        assert page.evaluate(
            "img => img.complete && img.naturalWidth > 100", chart.element_handle()
        )
        assert "₹2,469.00" in page.inner_text("table")  # the two pays, by biller
        shot("office-reports")
        page.click("header nav >> text=Reconciliation")
        row = page.locator(f"#case-{case}")
        row.locator("select[name=resolution]").select_option("no_money")
        row.locator("input[name=note]").fill("agreed with UPPCL: our amount stands")
        shot("office-recon")
        row.locator("button[type=submit]").click()
        page.wait_for_url(f"**/office/recon?done={case}")
        assert f"Case {case} is resolved" in page.inner_text("main")

    def the_agent(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/agent", agent.lower(), agent_secret)
        page.wait_for_url("**/agent/")
        rows = page.locator("tbody tr")
        assert rows.count() == 1 and "₹1,234.50" in rows.inner_text()
        shot("agent-payments")
        page.click("button[value=hi]")
        page.wait_for_url("**/agent/")
        assert page.locator("h1").inner_text().startswith("भुगतान")
        shot("agent-payments-hindi")
        page.click(f"a[href='/agent/payments/{txn}']")
        assert "रसीद" in page.inner_text("h1")
        shot("agent-receipt")
        response = page.goto("/agent/payments/1")
        assert response is not None and response.status == 404

    for script in (operations, support, finance, the_agent):
        violations = await trio.to_thread.run_sync(in_browser, base_url, shots, script)
        assert violations == [], violations
    resolved = await admin.sw.db.fetchval("SELECT state FROM recon_cases WHERE id = $1", case)
    assert resolved == "resolved"
    assert {p.name for p in shots.iterdir()} >= {
        "office-home.png",
        "api-docs.png",
        "office-transactions.png",
        "office-pay.png",
        "office-403.png",
        "office-reports.png",
        "office-recon.png",
        "agent-payments.png",
        "agent-payments-hindi.png",
        "agent-receipt.png",
    }


async def test_an_agent_is_onboarded_in_chromium_then_pays_and_sees_it(
    admin: Admin, tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{admin.sw.admin_port}"
    shots = shots_dir(tmp_path)
    photo = tmp_path / "shop.png"
    photo.write_bytes(a_photo())
    form = {k: str(v) for k, v in application(9).items()}
    seen: dict[str, Any] = {}

    def enter(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "onboarding", PASSWORD)
        page.click("header nav >> text=Agents")
        page.click("text=enter an application")
        for name, value in form.items():
            page.fill(f"input[name={name}]", "ABC" if name == "pan" else value)
        page.click("main button[type=submit]")
        assert page.locator("span[data-field=pan]").is_visible()  # the message at its field
        shot("office-agent-form-errors")
        page.fill("input[name=pan]", form["pan"])
        page.click("main button[type=submit]")
        page.wait_for_url("**/office/agents/AG*")
        seen["agent"] = page.url.rsplit("/", 1)[1]
        page.set_input_files("input[type=file]", str(photo))
        page.click("form[enctype] button[type=submit]")
        assert page.locator("text=image/png").count() == 1

    def approve(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "onboarding2", PASSWORD)
        page.goto(f"/office/agents/{seen['agent']}")
        page.click("text=Approve the KYC")
        page.click("text=Activate")
        assert "active" in page.inner_text("h1")

    def provision(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "operations", PASSWORD)
        page.goto(f"/office/agents/{seen['agent']}")
        page.click("text=Provision a terminal")
        seen["credentials"] = json.loads(page.input_value("section.credentials textarea"))
        shot("office-agent-terminal")

    def top_up(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/office", "finance", PASSWORD)
        page.goto(f"/office/agents/{seen['agent']}")
        page.fill("input[name=amount_rupees]", "12,500")
        page.fill("input[name=bank_ref]", "UTR-CHROMIUM-1")
        page.click("text=Top up >> nth=-1")
        assert "₹12,500.00" in page.inner_text("main h2 >> nth=-1")
        shot("office-agent")

    for script in (enter, approve, provision, top_up):
        assert await trio.to_thread.run_sync(in_browser, base_url, shots, script) == []
    creds = Credentials.from_dict(seen["credentials"])
    async with connect(creds) as conn:
        paid = await conn.request(
            "pay", ref="CHR-1", biller="UPPCL", account="1234567890", amount_paise=999_00
        )
    assert paid["status"] == "success", paid
    secret = await agent_password(admin, seen["agent"])

    def the_agent(page: Page, shot: Callable[[str], None]) -> None:
        sign_in(page, "/agent", seen["agent"].lower(), secret)
        page.wait_for_url("**/agent/")
        assert page.locator(f"a[href='/agent/payments/{paid['txn']}']").count() == 1
        assert "₹999.00" in page.inner_text("tbody")
        page.click("header nav >> text=Wallet")
        assert "₹11,501.00" in page.inner_text("h1")  # ₹12,500 topped up, ₹999 paid
        shot("agent-wallet")

    assert await trio.to_thread.run_sync(in_browser, base_url, shots, the_agent) == []
