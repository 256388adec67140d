"""The pages over HTTP as a browser sends them: signing in with the form, the same
roles and refusals as the API, CSRF, the security headers, own data only."""

from __future__ import annotations

from tests.admin.conftest import PASSWORD, Admin
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
