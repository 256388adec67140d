"""The payer's bills in the back office: the site in-charge's queue with each bill's
checks, a bulk approval with remarks from the page, the bill's docket and milestones,
the next approver's queue; another payer's bill is not there for them."""

from __future__ import annotations

import re

import trio

from simulators.erp.simulator import ErpSimulator
from tests.admin.conftest import PASSWORD
from tests.bulk.conftest import SpecAdmin
from tests.bulk.test_bulk_flow import SITES, a_payer, bill_row, bills, csv_of, decide, upload
from tests.web.conftest import Browser, browser, csrf_of

__all__ = ["browser"]  # the web tests' client, for these pages


async def test_the_site_incharge_approves_from_the_page(
    admin: SpecAdmin, erp: tuple[ErpSimulator, int], browser: Browser
) -> None:
    payer = await a_payer(admin, erp[0])
    rows = [bill_row(c, a) for c, a, *_ in SITES[:3]]
    rows[2] |= {"omr": "5800", "cmr": "5400"}  # a meter run backwards: S
    await upload(admin, "circlenodal1", payer, csv_of(rows))
    r = await browser.sign_in("/office", "siteincharge1", PASSWORD)
    assert r.status_code == 303, r.text
    queue = await browser.http.get("/office/bills")
    assert queue.status_code == 200 and "Bills" in queue.text
    ids = [int(x) for x in re.findall(r'name="bill" value="(\d+)"', queue.text)]
    assert len(ids) == 3 and re.search(r">S\d+</a>", queue.text)
    assert "meter_faulty, units_mismatch, continuity" in queue.text
    form = {"csrf": csrf_of(queue.text), "state": "site_incharge", "action": "approve",
            "reason": "readings seen on site"}  # fmt: skip
    done = await browser.http.post("/office/bills", data=form | {"bill": [str(i) for i in ids[:2]]})
    assert done.status_code == 303 and "2+done" in done.headers["location"]
    left = await browser.http.get(done.headers["location"])
    assert "2 done" in left.text
    assert re.findall(r'name="bill" value="(\d+)"', left.text) == [str(ids[2])]
    bill = await browser.http.get(f"/office/bills/{ids[2]}")
    assert bill.status_code == 200
    assert "meter_faulty" in bill.text and "CMR 5400 is below OMR 5800" in bill.text
    assert "taken_in" in bill.text and "to_site_incharge" in bill.text
    # No remarks: refused, and said so on the page.
    no_remarks = form | {"reason": "", "bill": [str(ids[2])]}
    bare = await browser.http.post("/office/bills", data=no_remarks)
    assert "0 done; 1 refused" in (await browser.http.get(bare.headers["location"])).text
    # DGM (F) finds the two approved bills in its own queue.
    await browser.http.post("/office/logout", data={"csrf": csrf_of(left.text)})
    assert (await browser.sign_in("/office", "dgmf1", PASSWORD)).status_code == 303
    theirs = await browser.http.get("/office/bills")
    assert sorted(re.findall(r'name="bill" value="(\d+)"', theirs.text)) == sorted(
        str(i) for i in ids[:2])  # fmt: skip
    # The switch's own auditor reads them (without deciding); another payer's staff not.
    body = {"name": "Other Org", "mobile": "9876500030"}
    other = (await admin.call("onboarding", "POST", "/v1/payers", json=body)).json()["id"]
    user = {"username": "other-si", "role": "site_incharge", "mobile": "9876500031",
            "password": PASSWORD}  # fmt: skip
    await admin.call("onboarding", "POST", f"/v1/payers/{other}/users", json=user)
    await browser.http.post("/office/logout", data={"csrf": csrf_of(theirs.text)})
    assert (await browser.sign_in("/office", "other-si", PASSWORD)).status_code == 303
    assert (await browser.http.get(f"/office/bills/{ids[2]}")).status_code == 404
    assert 'name="bill"' not in (await browser.http.get("/office/bills")).text


async def test_the_circle_nodal_runs_the_month_from_the_payers_desk(
    admin: SpecAdmin, erp: tuple[ErpSimulator, int], browser: Browser
) -> None:
    """A bill file, approvals, the ERP and a pay run, the nodal's steps from the desk."""
    payer = await a_payer(admin, erp[0])
    assert (await browser.sign_in("/office", "circlenodal1", PASSWORD)).status_code == 303
    desk = await browser.http.get(f"/office/payers/{payer}")
    assert desk.status_code == 200 and 'id="intake"' in desk.text and 'id="run"' in desk.text
    csrf = csrf_of(desk.text)
    body = csv_of([bill_row(c, a) for c, a, *_ in SITES[:2]])
    r = await browser.http.post(f"/office/payers/{payer}/bills", data={"csrf": csrf},
                                files={"file": ("bills.csv", body, "text/csv")})  # fmt: skip
    said = await browser.http.get(r.headers["location"])
    assert "2 bills taken in, 0 already in" in said.text
    bad = csv_of([bill_row("NOPE", "2000000001")])
    r = await browser.http.post(f"/office/payers/{payer}/bills", data={"csrf": csrf},
                                files={"file": ("bad.csv", bad, "text/csv")})  # fmt: skip
    assert "line 2, site_code: no site" in (await browser.http.get(r.headers["location"])).text
    got = await bills(admin, "circlenodal1", payer)
    ids = [b["id"] for b in got.values()]
    await decide(admin, "siteincharge1", payer, "approve", ids, reason="seen")
    await decide(admin, "dgmf1", payer, "approve", ids)
    await decide(admin, "circlenodal1", payer, "approve", ids)
    r = await browser.http.post(f"/office/payers/{payer}/erp", data={"csrf": csrf})
    assert "ERP: 2 liability" in (await browser.http.get(r.headers["location"])).text
    got = await bills(admin, "circlenodal1", payer)
    total = sum(b["net_payable_paise"] for b in got.values())
    topup = {"amount_paise": total, "bank_ref": "UTRDESK001"}
    assert (await admin.call("finance", "POST", f"/v1/agents/{payer}/wallet/topups",
                             json=topup)).status_code == 201  # fmt: skip
    r = await browser.http.post(f"/office/payers/{payer}/runs",
                                data={"csrf": csrf, "funds": f"{total / 100:.2f}"})  # fmt: skip
    assert r.status_code == 303 and "/runs/" in r.headers["location"]
    with trio.fail_after(20):
        run = await browser.http.get(r.headers["location"])
        while 'id="state">done' not in run.text:
            await trio.sleep(0.2)
            run = await browser.http.get(r.headers["location"])
    assert run.text.count(">paid</span>") == 2
    desk = await browser.http.get(f"/office/payers/{payer}")
    assert 'id="balance">₹0.00' in desk.text
    # The site in-charge reads the desk but has none of the nodal's forms.
    await browser.http.post("/office/logout", data={"csrf": csrf})
    assert (await browser.sign_in("/office", "siteincharge1", PASSWORD)).status_code == 303
    theirs = await browser.http.get(f"/office/payers/{payer}")
    assert theirs.status_code == 200 and 'id="run"' not in theirs.text
    refused = await browser.http.post(
        f"/office/payers/{payer}/erp", data={"csrf": csrf_of(theirs.text)}
    )
    assert refused.status_code == 403
