"""The back office's imports page: a file uploaded with its control totals, its run's
protocol followed to the end; a form missing its file says so; each kind of file by its
own role."""

from __future__ import annotations

import re

import trio

from tests.admin.conftest import PASSWORD, Admin, active_agent
from tests.web.conftest import Browser, csrf_of


async def test_finance_imports_opening_balances_from_the_page(
    admin: Admin, browser: Browser
) -> None:
    agent = await active_agent(admin, 1)
    await browser.sign_in("/office", "finance", PASSWORD)
    shown = await browser.http.get("/office/imports")
    assert shown.status_code == 200 and 'enctype="multipart/form-data"' in shown.text
    csrf = csrf_of(shown.text)
    body = f'agent,amount\n{agent},"1,500.00"\nAG999999,10\n'.encode()
    form = {"csrf": csrf, "entity": "balances", "control_count": "2", "control_total": "1,510"}
    r = await browser.http.post(
        "/office/imports", data=form, files={"file": ("opening.csv", body, "text/csv")}
    )
    assert r.status_code == 303, r.text
    run_page = r.headers["location"]
    with trio.fail_after(20):
        busy = re.compile(r'id="state">(checking|writing)')
        while busy.search((p := await browser.http.get(run_page)).text):  # noqa: ASYNC110
            await trio.sleep(0.1)
    assert 'id="state">done' in p.text, p.text
    assert re.search(r'id="accepted">1<', p.text) and re.search(r'id="rejected">1<', p.text)
    assert "no such agent" in p.text and "₹1,500.00" in p.text
    missing = await browser.http.post(
        "/office/imports", data=form | {"entity": "balances"}, files={"file": ("", b"", "text/csv")}
    )
    assert missing.status_code == 422 and "choose a CSV or XLSX file" in missing.text
    listed = await browser.http.get("/office/imports")
    assert "opening.csv" in listed.text
    agents = await browser.http.post(
        "/office/imports",
        data=form | {"entity": "agents"},
        files={"file": ("agents.csv", b"name\nx\n", "text/csv")},
    )
    assert agents.status_code == 403  # agents are onboarding's to import
