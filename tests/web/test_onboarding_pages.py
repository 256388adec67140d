"""Onboarding through the pages, end to end: the KYC form with the API's field
messages, a document, a second approver (four eyes), activation, a terminal whose
credentials are shown once, a top-up; then that terminal pays and staff find it."""

from __future__ import annotations

import html
import io
import json
import re

from PIL import Image

from simulators.epos.connection import connect
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import PASSWORD, Admin, application
from tests.web.conftest import Browser


def a_photo() -> bytes:
    """A real PNG (the upload is decoded and re-encoded, so it must be one)."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


async def test_an_agent_is_onboarded_through_the_pages_and_pays(
    admin: Admin, browser: Browser
) -> None:
    await browser.sign_in("/office", "onboarding", PASSWORD)
    form = {k: str(v) for k, v in application(7).items()}
    bad = await browser.post_form(
        "/office/agents/new", "/office/agents/new", {**form, "pan": "ABC", "ifsc": "SBIN"}
    )
    assert bad.status_code == 200
    assert 'data-field="pan"' in bad.text and 'data-field="ifsc"' in bad.text
    assert 'value="Ram General Store 7"' in bad.text  # what was typed is kept
    made = await browser.post_form("/office/agents/new", "/office/agents/new", form)
    assert made.status_code == 303, made.text
    page = made.headers["location"]
    agent = page.rsplit("/", 1)[1]

    shown = await browser.http.get(page)
    upload = await browser.http.post(
        f"{page}/documents",
        data={"csrf": re.search(r'name="csrf" value="([^"]+)"', shown.text)[1], "kind": "photo"},  # type: ignore[index]
        files={"file": ("me.png", a_photo(), "image/png")},
    )
    assert upload.status_code == 303, upload.text
    own = await browser.post_form(page, f"{page}/approve", {})
    assert own.status_code == 200 and "pending_kyc" in own.text  # four eyes: not by its enterer
    assert await admin.sw.db.fetchval("SELECT state FROM agents WHERE id = $1", agent) == (
        "pending_kyc"
    )
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "onboarding2", PASSWORD)
    assert (await browser.post_form(page, f"{page}/approve", {})).status_code == 303
    assert (await browser.post_form(page, f"{page}/activate", {})).status_code == 303
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "operations", PASSWORD)
    provisioned = await browser.post_form(page, f"{page}/terminal", {})
    assert "shown this once" in provisioned.text
    box = re.search(r"<textarea readonly[^>]*>(.*?)</textarea>", provisioned.text, re.S)
    assert box is not None
    creds = Credentials.from_dict(json.loads(html.unescape(box[1])))
    assert "shown this once" not in (await browser.http.get(page)).text  # never again
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "finance", PASSWORD)
    over = await browser.post_form(
        page, f"{page}/topup", {"amount_rupees": "5,000.001", "bank_ref": "UTR-WEB-1"}
    )
    assert "at most two digits of paise" in over.text
    topped = await browser.post_form(
        page, f"{page}/topup", {"amount_rupees": "5,000", "bank_ref": "UTR-WEB-1"}
    )
    assert topped.status_code == 303
    assert "₹5,000.00" in (await browser.http.get(page)).text
    again = await browser.post_form(
        page, f"{page}/topup", {"amount_rupees": "7", "bank_ref": "UTR-WEB-1"}
    )
    assert "already used" in again.text  # the bank reference, next to its field

    async with connect(creds) as conn:
        paid = await conn.request(
            "pay", ref="WEB-1", biller="UPPCL", account="1234567890", amount_paise=250_00
        )
    assert paid["status"] == "success", paid
    found = await browser.http.get("/office/transactions", params={"agent_id": agent})
    assert f"/office/transactions/{paid['txn']}" in found.text and "₹250.00" in found.text
    agent_page = (await browser.http.get(page)).text
    assert "₹4,750.00" in agent_page
    # Its newest movements first: the pay's hold, then the top-up.
    assert agent_page.index("-₹250.00") < agent_page.index("topup:UTR-WEB-1")
    actions = await admin.sw.db.fetch(
        "SELECT action, actor FROM audit_log WHERE object_id = $1 ORDER BY id", agent
    )
    assert [(r["action"], r["actor"]) for r in actions][:4] == [
        ("agent.apply", "onboarding"),
        ("agent.document", "onboarding"),
        ("agent.approve", "onboarding2"),
        ("agent.activate", "onboarding2"),
    ]


async def test_a_terminals_key_is_rotated_and_a_wallets_limits_set(
    admin: Admin, browser: Browser
) -> None:
    from tests.admin.test_wallets_complaints import funded_terminal, pay

    agent, old = await funded_terminal(admin, 3)
    page = f"/office/agents/{agent}"
    await browser.sign_in("/office", "operations", PASSWORD)
    rotated = await browser.post_form(page, f"/office/terminals/{old.terminal_id}/rotate-key", {})
    box = re.search(r"<textarea readonly[^>]*>(.*?)</textarea>", rotated.text, re.S)
    assert box is not None and "shown this once" in rotated.text
    new = Credentials.from_dict(json.loads(html.unescape(box[1])))
    assert new.terminal_id == old.terminal_id and new.private_key != old.private_key
    assert (await pay(new, "ROT-1", 10_00))["status"] == "success"
    try:
        refused = await pay(old, "ROT-2", 10_00)
    except Exception as exc:  # the old key fails its handshake: the connection is refused
        refused = {"status": "refused", "why": repr(exc)}
    assert refused["status"] != "success"
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "finance", PASSWORD)
    upside_down = await browser.post_form(
        page,
        f"{page}/limits",
        {"max_balance_rupees": "50000", "per_txn_rupees": "9000", "per_day_rupees": "5000"},
    )
    assert "must not exceed per_day_paise" in upside_down.text
    done = await browser.post_form(
        page,
        f"{page}/limits",
        {"max_balance_rupees": "50000", "per_txn_rupees": "2000", "per_day_rupees": "5000"},
    )
    assert done.status_code == 303
    shown = await browser.http.get(page)
    assert "₹2,000.00 a pay" in shown.text and "₹5,000.00 a day" in shown.text


async def test_an_application_is_sent_back_corrected_and_another_rejected(
    admin: Admin, browser: Browser
) -> None:
    await browser.sign_in("/office", "onboarding", PASSWORD)
    made = await browser.post_form(
        "/office/agents/new", "/office/agents/new", {k: str(v) for k, v in application(11).items()}
    )
    page = made.headers["location"]
    agent = page.rsplit("/", 1)[1]
    own = await browser.post_form(page, f"{page}/send-back", {"reason": "mine"})
    assert "a second person must review" in own.text
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "onboarding2", PASSWORD)
    no_reason = await browser.post_form(page, f"{page}/send-back", {"reason": ""})
    assert "Field required" in no_reason.text  # the API's own message for it
    back = await browser.post_form(page, f"{page}/send-back", {"reason": "district is wrong"})
    assert back.status_code == 303
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "onboarding", PASSWORD)
    shown = await browser.http.get(page)
    assert "Sent back by onboarding2" in shown.text and "district is wrong" in shown.text
    form = await browser.http.get(f"{page}/edit")
    assert 'value="Varanasi"' in form.text and "district is wrong" in form.text
    fields = {k: str(v) for k, v in application(11).items()} | {"district": "Chandauli"}
    fixed = await browser.post_form(f"{page}/edit", f"{page}/edit", fields)
    assert fixed.status_code == 303, fixed.text
    row = await admin.sw.db.fetchrow(
        """SELECT a.state, a.district, k.submitted_by, k.review_note FROM agents a
             JOIN agent_kyc k ON k.agent_id = a.id WHERE a.id = $1""",
        agent,
    )
    assert tuple(row) == ("pending_kyc", "Chandauli", "onboarding", None)
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "onboarding2", PASSWORD)
    assert (await browser.post_form(page, f"{page}/approve", {})).status_code == 303
    other = await browser.post_form(
        "/office/agents/new", "/office/agents/new", {k: str(v) for k, v in application(12).items()}
    )
    other_page = other.headers["location"]
    await browser.post_form("/office/", "/office/logout", {})
    await browser.sign_in("/office", "onboarding", PASSWORD)
    rejected = await browser.post_form(
        other_page, f"{other_page}/reject", {"reason": "PAN does not match the name"}
    )
    assert rejected.status_code == 303
    final = await browser.http.get(other_page)
    assert "Rejected by onboarding" in final.text and "Approve the KYC" not in final.text
    late = await admin.call(
        "onboarding2", "POST", f"/v1/agents/{other_page.rsplit('/', 1)[1]}/approve"
    )
    assert late.status_code == 409
    actions = await admin.sw.db.fetch(
        "SELECT action, actor FROM audit_log WHERE object_id = $1 ORDER BY id", agent
    )
    assert [(r["action"], r["actor"]) for r in actions] == [
        ("agent.apply", "onboarding"),
        ("agent.send_back", "onboarding2"),
        ("agent.correct", "onboarding"),
        ("agent.approve", "onboarding2"),
    ]
