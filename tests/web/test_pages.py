"""The pages over HTTP as a browser sends them: signing in with the form, the same
roles and refusals as the API, CSRF, the security headers, own data only."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from tests.admin.conftest import PASSWORD, Admin, last_sms
from tests.settlement.conftest import calendar_cut_at, db_now, settlement_for
from tests.web.conftest import Browser, agent_password, agent_with_a_payment


async def test_staff_sign_in_search_and_see_one_pay(admin: Admin, browser: Browser) -> None:
    agent, _, txn = await agent_with_a_payment(admin)
    home = await browser.http.get("/office/")
    assert home.status_code == 303 and home.headers["location"].startswith("/office/login")

    wrong = await browser.sign_in("/office", "operations", "not-the-password")
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    signed = await browser.sign_in("/office", "operations", PASSWORD)
    assert signed.status_code == 303 and signed.headers["location"] == "/office/"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie

    home = await browser.http.get("/office/")
    assert home.status_code == 200 and "Transactions" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"
    found = await browser.http.get("/office/transactions", params={"agent_id": agent})
    assert f"/office/transactions/{txn}" in found.text and "₹1,234.50" in found.text
    # A consumer's account is searched in a POST body; in a URL it is ignored.
    by_account = await browser.post_form(
        "/office/transactions", "/office/transactions", {"account": "1234567890"}
    )
    assert f"/office/transactions/{txn}" in by_account.text
    in_url = await browser.http.get("/office/transactions", params={"account": "0000000000"})
    assert f"/office/transactions/{txn}" in in_url.text  # the filter was not applied
    bad = await browser.http.get("/office/transactions", params={"from": "yesterday"})
    assert bad.status_code == 200 and "a date: YYYY-MM-DD" in bad.text
    story = await browser.http.get(f"/office/transactions/{txn}")
    assert story.status_code == 200 and "held in the ledger" in story.text
    assert "posted to the biller" in story.text and " IST" in story.text


async def test_a_role_without_the_permission_gets_a_403_page(
    admin: Admin, browser: Browser
) -> None:
    await browser.sign_in("/office", "support", PASSWORD)
    home = await browser.http.get("/office/")
    assert "MIS reports" not in home.text  # the home page shows only what the role may do
    refused = await browser.http.get("/office/reports")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert "may not reports.totals" in refused.text
    assert (await browser.http.get("/office/reports/totals.csv")).status_code == 403


async def test_a_form_without_its_csrf_field_is_refused(admin: Admin, browser: Browser) -> None:
    await browser.sign_in("/office", "finance", PASSWORD)
    forged = await browser.http.post(
        "/office/password", data={"old_password": PASSWORD, "new_password": "x" * 12}
    )
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    forged_login = await browser.http.post(
        "/office/login", data={"username": "finance", "password": PASSWORD}
    )
    assert forged_login.status_code == 403
    # The field-level message of the API's own rule, next to the field.
    short = await browser.post_form(
        "/office/password", "/office/password", {"old_password": PASSWORD, "new_password": "short"}
    )
    assert "at least 10 characters" in short.text
    assert (
        await admin.sw.db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'user.password_changed'"
        )
        == 0
    )
    # Signing out revokes the session: the old cookie opens nothing.
    out = await browser.post_form("/office/", "/office/logout", {})
    assert out.status_code == 303
    assert (await browser.http.get("/office/")).status_code == 303


async def test_an_agent_sees_its_own_payments_only(admin: Admin, browser: Browser) -> None:
    mine, _, txn = await agent_with_a_payment(admin, 1)
    _, _, theirs = await agent_with_a_payment(admin, 2)
    staff_at_agent = await browser.sign_in("/agent", "operations", PASSWORD)
    assert staff_at_agent.status_code == 403 and "/office/login" in staff_at_agent.text
    signed = await browser.sign_in("/agent", mine.lower(), await agent_password(admin, mine))
    assert signed.status_code == 303
    payments = await browser.http.get("/agent/")
    assert (
        f"/agent/payments/{txn}" in payments.text
        and f"/agent/payments/{theirs}" not in payments.text
    )
    assert (await browser.http.get(f"/agent/payments/{txn}")).status_code == 200
    other = await browser.http.get(f"/agent/payments/{theirs}")
    assert other.status_code == 404
    assert (await browser.http.get("/office/")).status_code == 403  # not the staff's pages
    # Hindi: the same page in the agent's language, the money still in rupees.
    await browser.http.post("/agent/language", data={"lang": "hi", "next": "/agent/"})
    hindi = await browser.http.get("/agent/")
    assert "भुगतान" in hindi.text and "₹1,234.50" in hindi.text and 'lang="hi"' in hindi.text
    wallet = await browser.http.get("/agent/wallet")
    assert wallet.status_code == 200 and "शेष राशि" in wallet.text


async def open_case(a: Admin, pay_id: int) -> int:
    """An open reconciliation case about ``pay_id`` (as a day's matching opens one)."""
    case_id: int = await a.sw.db.fetchval(
        """INSERT INTO recon_cases (kind, pay_id, biller_id, amount_paise, detail,
                                    suggested_action)
           VALUES ('amount_mismatch', $1, 'UPPCL', 123450, 'the biller reports ₹1,200.00',
                   'investigate: agree the amount with the biller, then refund or close')
           RETURNING id""",
        pay_id,
    )
    return case_id


async def test_finance_resolves_a_case_and_operations_may_not(
    admin: Admin, browser: Browser
) -> None:
    _, _, txn = await agent_with_a_payment(admin)
    case = await open_case(admin, txn)
    await browser.sign_in("/office", "operations", PASSWORD)
    listed = await browser.http.get("/office/recon")
    assert f'id="case-{case}"' in listed.text and "Resolve</button>" not in listed.text
    refused = await browser.post_form(
        "/office/recon", f"/office/recon/{case}/resolve", {"resolution": "no_money", "note": "x"}
    )
    assert refused.status_code == 403
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "finance", PASSWORD)
    no_note = await browser.post_form(
        "/office/recon", f"/office/recon/{case}/resolve", {"resolution": "no_money", "note": ""}
    )
    assert "at least 1 character" in no_note.text
    done = await browser.post_form(
        "/office/recon",
        f"/office/recon/{case}/resolve",
        {"resolution": "no_money", "note": "agreed with UPPCL: our amount stands"},
    )
    assert done.status_code == 303
    shown = await browser.http.get(done.headers["location"])
    assert f"Case {case} is resolved" in shown.text
    state, by = await admin.sw.db.fetchrow(
        "SELECT state, resolved_by FROM recon_cases WHERE id = $1", case
    )
    assert (state, by) == ("resolved", "finance")
    again = await browser.post_form(
        "/office/recon", f"/office/recon/{case}/resolve", {"resolution": "no_money", "note": "y"}
    )
    assert "already resolved" in again.text


async def test_the_audit_log_filters_and_downloads(admin: Admin, browser: Browser) -> None:
    agent, _, _ = await agent_with_a_payment(admin)
    await browser.sign_in("/office", "auditor", PASSWORD)
    shown = await browser.http.get("/office/audit", params={"object_id": agent})
    assert "wallet.topup" in shown.text and "agent.activate" in shown.text
    as_csv = await browser.http.get("/office/audit.csv", params={"object_id": agent})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().splitlines()
    assert lines[0].startswith("id,at,actor,action") and all(agent in x for x in lines[1:])
    await browser.post_form("/office/", "/office/logout", {})
    await browser.sign_in("/office", "support", PASSWORD)
    assert (await browser.http.get("/office/audit")).status_code == 403


async def test_finance_downloads_a_settlement_file_with_its_checksum(
    admin: Admin, browser: Browser, tmp_path: Path
) -> None:
    await agent_with_a_payment(admin)
    sw = admin.sw
    cut = await db_now(sw)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    window = await settlement_for(sw, tmp_path, cal).close("UPPCL", day, now=cut)
    await browser.sign_in("/office", "finance", PASSWORD)
    listed = await browser.http.get("/office/settlement")
    assert window.file_sha256 is not None and window.file_sha256 in listed.text
    assert "₹1,234.50" in listed.text
    got = await browser.http.get(f"/office/settlement/{window.id}/file")
    assert got.status_code == 200 and got.headers["x-checksum-sha256"] == window.file_sha256
    assert hashlib.sha256(got.content).hexdigest() == window.file_sha256
    await browser.post_form("/office/", "/office/logout", {})
    await browser.sign_in("/office", "support", PASSWORD)
    assert (await browser.http.get(f"/office/settlement/{window.id}/file")).status_code == 403


async def test_a_complaint_from_registration_to_a_refund_and_closing(
    admin: Admin, browser: Browser
) -> None:
    agent, _, txn = await agent_with_a_payment(admin)
    wallet_before = await admin.sw.db.fetchval(
        """SELECT c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id
            WHERE a.id = $1""",
        agent,
    )
    await browser.sign_in("/office", "support", PASSWORD)
    missing = await browser.post_form(
        "/office/complaints",
        "/office/complaints",
        {"kind": "transaction", "category": "not_credited", "description": "not credited"},
    )
    assert "required for kind transaction" in missing.text  # the API's own field message
    made = await browser.post_form(
        "/office/complaints",
        "/office/complaints",
        {
            "kind": "transaction",
            "category": "not_credited",
            "pay_id": str(txn),
            "description": "consumer says the bill still shows unpaid",
        },
    )
    assert made.status_code == 303
    page = made.headers["location"]
    complaint = int(page.rsplit("/", 1)[1])
    assigned = await browser.post_form(page, f"{page}/assign", {"to": "operations"})
    assert assigned.status_code == 303
    no_money = await browser.post_form(
        page, f"{page}/resolve", {"resolution": "refund", "refund_rupees": "100.00"}
    )
    assert no_money.status_code == 403 and "may not complaints.refund" in no_money.text
    await browser.post_form("/office/", "/office/logout", {})

    await browser.sign_in("/office", "finance", PASSWORD)
    bad = await browser.post_form(
        page, f"{page}/resolve", {"resolution": "refund", "refund_rupees": "100.005"}
    )
    assert "at most two digits of paise" in bad.text
    done = await browser.post_form(
        page,
        f"{page}/resolve",
        {"resolution": "refunded: biller confirms", "refund_rupees": "100.00", "write_off": "yes"},
    )
    assert done.status_code == 303, done.text
    shown = await browser.http.get(page)
    assert "refunded ₹100.00 to the wallet" in shown.text and "assign" in shown.text
    wallet_after = await admin.sw.db.fetchval(
        """SELECT c.balance_paise FROM agents a JOIN accounts c ON c.id = a.wallet_account_id
            WHERE a.id = $1""",
        agent,
    )
    assert wallet_after == wallet_before + 100_00
    actions = await admin.sw.db.fetch(
        "SELECT action FROM audit_log WHERE object_id = $1 ORDER BY id", str(complaint)
    )
    assert [a["action"] for a in actions] == [
        "complaint.log",
        "complaint.assign",
        "complaint.resolve",
    ]
    assert await admin.sw.ledger.check_invariants() == []


async def test_an_agent_raises_a_complaint_about_its_own_payment_only(
    admin: Admin, browser: Browser
) -> None:
    mine, _, txn = await agent_with_a_payment(admin, 1)
    _, _, theirs = await agent_with_a_payment(admin, 2)
    await browser.sign_in("/agent", mine.lower(), await agent_password(admin, mine))
    other = await browser.post_form(
        "/agent/complaints",
        "/agent/complaints",
        {"category": "not_credited", "pay_id": str(theirs), "description": "not mine"},
    )
    assert "no such transaction" in other.text
    made = await browser.post_form(
        "/agent/complaints",
        "/agent/complaints",
        {"category": "receipt_missing", "pay_id": str(txn), "description": "printer jammed"},
    )
    assert made.status_code == 303
    listed = await browser.http.get("/agent/complaints")
    assert f"/agent/payments/{txn}" in listed.text and "logged" in listed.text
    row = await admin.sw.db.fetchrow(
        "SELECT agent_id, raised_by, kind FROM complaints WHERE pay_id = $1", txn
    )
    assert tuple(row) == (mine, mine.lower(), "transaction")
    assert (
        await admin.sw.db.fetchval("SELECT count(*) FROM complaints WHERE pay_id = $1", theirs) == 0
    )


async def test_a_forgotten_password_is_reset_with_the_sms_code(
    admin: Admin, browser: Browser
) -> None:
    asked = await browser.post_form("/office/reset", "/office/reset/request", {"username": "audit"})
    assert "a code was sent" in asked.text  # the same answer for a user that does not exist
    asked = await browser.post_form(
        "/office/reset", "/office/reset/request", {"username": "auditor"}
    )
    assert "a code was sent" in asked.text
    sms = await last_sms(admin, "%reset code%")
    assert sms is not None
    code = re.search(r"code is (\d{6})", sms)[1]  # type: ignore[index]
    wrong = "000000" if code != "000000" else "111111"
    refused = await browser.post_form(
        "/office/reset",
        "/office/reset/confirm",
        {"username": "auditor", "code": wrong, "new_password": "a-new-secret-77"},
    )
    assert "the code is wrong" in refused.text
    done = await browser.post_form(
        "/office/reset",
        "/office/reset/confirm",
        {"username": "auditor", "code": code, "new_password": "a-new-secret-77"},
    )
    assert "Your password is set" in done.text
    assert (await browser.sign_in("/office", "auditor", PASSWORD)).status_code == 401
    assert (await browser.sign_in("/office", "auditor", "a-new-secret-77")).status_code == 303


async def test_operations_see_each_billers_breaker(admin: Admin, browser: Browser) -> None:
    await browser.sign_in("/office", "operations", PASSWORD)
    shown = await browser.http.get("/office/billers")
    assert shown.status_code == 200 and "UPPCL" in shown.text
    api = await admin.call("operations", "GET", "/v1/billers")
    [uppcl] = [b for b in api.json()["items"] if b["id"] == "UPPCL"]
    assert uppcl["breaker_state"] == "closed" and "breaker-closed" in shown.text
    # The catalogue as terminals are told it, from the same stored copy as the API's.
    catalogue = (await admin.call("operations", "GET", "/v1/catalogue")).json()
    assert catalogue["version"] in shown.text
    for entry in catalogue["billers"]:
        assert all(p["label_hi"] in shown.text for p in entry["params"])
    await browser.post_form("/office/", "/office/logout", {})
    await browser.sign_in("/office", "finance", PASSWORD)
    assert (await browser.http.get("/office/billers")).status_code == 403
