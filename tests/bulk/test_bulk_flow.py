"""An organisation's electricity bills through the switch, on real PostgreSQL and
Redis with the ERP simulator: a bill file taken in whole or not at all, each bill
checked and queued, the approval chain with send-back and "not to pay", the ERP's
liabilities with an invoice failure and a liability failure, and pay runs by priority
over limited funds that pay exactly the expected bills, once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx
import trio

from simulators.erp.simulator import ErpSimulator
from switch.admin.answers import BULK_ROUTES
from switch.bulk.service import BulkService
from switch.protocols.billers.stub import stub_amount_paise
from tests.admin.conftest import PASSWORD, Admin
from tests.bulk.conftest import SpecAdmin

TODAY = dt.date.today()
COLUMNS = ["site_code", "bill_no", "bill_date", "due_date", "omr", "cmr", "units",
           "current_amount", "meter_rent", "taxes", "h1_units", "h1_amount", "h1_cmr"]  # fmt: skip
# Sites: (code, account, pay category, vendor code). The last account ends in 99: the
# stub discom refuses pays to it (a disconnected account).
SITES = [
    ("EXC-1", "2000000011", "gold", "V-UPPCL"),
    ("EXC-2", "2000000012", "silver", "V-UPPCL"),
    ("TWR-3", "2000000013", "bronze", "V-UPPCL"),
    ("TWR-4", "2000000014", "z", "V-UNKNOWN"),  # the ERP's vendor master lacks it: IF
    ("TWR-5", "2000000099", "gold", "V-UPPCL"),
]


def rupees(paise: int) -> str:
    return f"{paise // 100}.{paise % 100:02d}"


def bill_row(code: str, account: str, n: int = 1, **changes: str) -> dict[str, str]:
    """A bill whose gross is what the stub discom says is due for the account (the
    switch pays no more than is due), 400 units like last month."""
    due = stub_amount_paise(account)
    row = {
        "site_code": code,
        "bill_no": f"{code}/{n}",
        "bill_date": (TODAY - dt.timedelta(days=2)).strftime("%d-%m-%Y"),
        "due_date": (TODAY + dt.timedelta(days=10 + n)).strftime("%d-%m-%Y"),
        "omr": "5400",
        "cmr": "5800",
        "units": "400",
        "current_amount": rupees(due - 2500),
        "meter_rent": "25.00",
        "taxes": "0",
        "h1_units": "400",
        "h1_amount": rupees(due - 2500),
        "h1_cmr": "5400",
    }
    return row | changes


def csv_of(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


async def upload(admin: Admin, who: str, payer: str, body: bytes) -> dict[str, Any]:
    r = await admin.call(who, "POST", f"/v1/payers/{payer}/bills",
                         files={"file": ("bills.csv", body, "text/csv")})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def decide(admin: Admin, who: str, payer: str, action: str, ids: list[int],
                 **more: Any) -> dict[int, str]:  # fmt: skip
    r = await admin.call(who, "POST", f"/v1/payers/{payer}/bills/decisions",
                         json={"action": action, "bill_ids": ids, **more})  # fmt: skip
    assert r.status_code == 200, r.text
    return {x["bill_id"]: x["result"] for x in r.json()["results"]}


async def bills(admin: Admin, who: str, payer: str) -> dict[str, dict[str, Any]]:
    r = await admin.call(who, "GET", f"/v1/payers/{payer}/bills")
    assert r.status_code == 200, r.text
    return {b["site_code"] + ":" + b["bill_no"]: b for b in r.json()["bills"]}


async def a_payer(admin: Admin, erp: ErpSimulator) -> str:
    org = {"name": "Bharat Telecom UP East", "mobile": "9876500010"}
    r = await admin.call("onboarding", "POST", "/v1/payers", json=org)
    assert r.status_code == 201, r.text
    payer = r.json()["id"]
    r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/circles",
                         json={"id": "UPE", "name": "UP East"})  # fmt: skip
    assert r.status_code == 201, r.text
    for code, account, category, vendor in SITES:
        site = {"circle_id": "UPE", "site_code": code, "name": f"Site {code}",
                "biller_id": "UPPCL", "consumer_account": account, "meter_no": f"M{account}",
                "cost_centre": "CC-UPE", "vendor_code": vendor, "category": "LMV-2",
                "pay_category": category, "sanctioned_load_kw": "5"}  # fmt: skip
        r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/sites", json=site)
        assert r.status_code == 201, r.text
    for role in ("site_incharge", "dgm_f", "circle_nodal"):
        user = {"username": f"{role.replace('_', '')}1", "role": role,
                "mobile": "9876500011", "password": PASSWORD}  # fmt: skip
        r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/users", json=user)
        assert r.status_code == 201, r.text
        await admin.login(user["username"])
    meters = {account: f"M{account}" for _, account, _, _ in SITES}
    erp.cost_centres |= {"CC-UPE"}
    erp.vendor_codes |= {"V-UPPCL"}
    erp.meters |= meters
    erp.tds_percent = erp.tds_percent.__class__("2")
    return str(payer)


async def test_a_month_of_bills_from_file_to_paid_by_priority(
    admin: Admin, erp: tuple[ErpSimulator, int]
) -> None:
    sim, _ = erp
    payer = await a_payer(admin, sim)
    si, dgm, l1 = "siteincharge1", "dgmf1", "circlenodal1"

    # A file with bad rows is refused whole, every bad row named: nothing taken in.
    bad = [bill_row(c, a) for c, a, *_ in SITES]
    bad[1] |= {"current_amount": "-12.00"}
    bad[2] |= {"due_date": "31-02-2026"}
    bad[3] |= {"cmr": "58OO"}
    bad.append(bill_row("NOPE-9", "2000000019"))
    refused = await upload(admin, "operations", payer, csv_of(bad))
    assert refused["taken_in"] == 0 and "nothing was" in refused["refused"]
    assert {(x["line"], x["column"]) for x in refused["rejections"]} == {
        (3, "current_amount"), (4, "due_date"), (5, "cmr"), (7, "site_code"),
    }  # fmt: skip
    assert await bills(admin, l1, payer) == {}

    # The good file: TWR-3's meter ran backwards (S); the rest lack billing days, so the
    # tariff check is skipped (D) and they go to the site in-charge.
    rows = [bill_row(c, a) for c, a, *_ in SITES]
    rows[2] |= {"omr": "5800", "cmr": "5400"}
    taken = await upload(admin, l1, payer, csv_of(rows))
    assert taken["taken_in"] == 5 and taken["by_letter"] == {"D": 4, "S": 1}
    again = await upload(admin, l1, payer, csv_of(rows))  # the same bills again
    assert again["taken_in"] == 0 and again["already_in"] == 5
    # A second bill of EXC-2 within 15 days: flagged Multiple Invoice.
    mi = await upload(admin, l1, payer, csv_of([bill_row("EXC-2", "2000000012", n=2)]))
    assert mi["multiple_invoices"] == 1
    got = await bills(admin, si, payer)
    ids = {k.split(":")[0] + (":mi" if k.endswith("/2") else ""): b["id"] for k, b in got.items()}
    assert {b["state"] for b in got.values()} == {"site_incharge"}
    assert got["TWR-3:TWR-3/1"]["code"].startswith("S")
    r = await admin.call(si, "GET", f"/v1/payers/{payer}/bills/{ids['TWR-3']}")
    story = r.json()
    failed = [f["check"] for f in story["docket"]["failures"]]
    assert failed == ["meter_faulty", "units_mismatch", "continuity"]
    assert [m["milestone"] for m in story["milestones"]] == [
        "taken_in", "checked_S", "to_site_incharge"]  # fmt: skip

    # The site in-charge: remarks are required; TWR-3 and the MI copy are not to pay.
    no_remarks = await decide(admin, si, payer, "approve", [ids["EXC-1"]])
    assert no_remarks[ids["EXC-1"]].startswith("reason_needed")
    said = await decide(admin, si, payer, "not_to_pay", [ids["TWR-3"], ids["EXC-2:mi"]],
                        reason="meter replaced; the discom will re-bill")  # fmt: skip
    assert set(said.values()) == {"ok"}
    first = [ids[c] for c in ("EXC-1", "EXC-2", "TWR-4", "TWR-5")]
    said = await decide(admin, si, payer, "approve", first, reason="readings checked on site")
    assert set(said.values()) == {"ok"}
    # A stale page is refused: the bill has moved on to DGM (F)'s step.
    again_said = await decide(admin, si, payer, "approve", first[:1], reason="again")
    assert again_said[first[0]].startswith("forbidden: approve at dgm_f is the dgm_f's")
    # DGM (F) sends EXC-2 back; the site in-charge approves it again.
    said = await decide(admin, dgm, payer, "send_back", [ids["EXC-2"]], reason="taxes?")
    assert said == {ids["EXC-2"]: "ok"}
    said = await decide(admin, si, payer, "approve", [ids["EXC-2"]], reason="no taxes billed")
    assert said == {ids["EXC-2"]: "ok"}
    assert (await decide(admin, dgm, payer, "approve", first)).keys() == set(first)
    twice = await decide(admin, dgm, payer, "approve", first[:1])
    assert twice[first[0]].startswith("forbidden")  # it is at L1 now: the nodal's step
    said = await decide(admin, l1, payer, "approve", first)
    assert set(said.values()) == {"ok"}

    # The ERP: liabilities with 2 % TDS; TWR-4's vendor code is unknown (IF).
    r = await admin.call(l1, "POST", f"/v1/payers/{payer}/erp")
    assert r.json()["outcomes"] == {"liability": 3, "invoice_failure": 1}
    got = await bills(admin, l1, payer)
    twr4 = got["TWR-4:TWR-4/1"]
    assert twr4["state"] == "invoice_failure" and twr4["last_reason"] == "Vendor Code not defined"
    exc1 = got["EXC-1:EXC-1/1"]
    assert exc1["tds_paise"] == (exc1["approved_paise"] * 2 + 50) // 100
    assert exc1["net_payable_paise"] == exc1["approved_paise"] - exc1["tds_paise"]
    sim.vendor_codes.add("V-UNKNOWN")  # the master is mended: L1 resubmits
    assert await decide(admin, l1, payer, "resubmit", [ids["TWR-4"]]) == {ids["TWR-4"]: "ok"}
    r = await admin.call(l1, "POST", f"/v1/payers/{payer}/erp")
    assert r.json()["outcomes"] == {"liability": 1}

    # Funds for the gold bill and the silver one, not the rest: EXC-1 (gold) and TWR-5
    # (gold, refused by the discom) come first, then EXC-2 (silver); TWR-4 (z) waits.
    got = await bills(admin, l1, payer)
    net = {
        k.split(":")[0]: b["net_payable_paise"] for k, b in got.items() if b["state"] == "liability"
    }
    funds = net["EXC-1"] + net["TWR-5"] + net["EXC-2"]
    topup = {"amount_paise": funds + net["TWR-4"], "bank_ref": "UTR000777"}
    r = await admin.call("finance", "POST", f"/v1/agents/{payer}/wallet/topups", json=topup)
    assert r.status_code == 201, r.text
    run = await pay_run(admin, l1, payer, funds)
    outcome = {i["bill_id"]: i["outcome"] for i in run["items"]}
    assert outcome == {ids["EXC-1"]: "paid", ids["EXC-2"]: "paid", ids["TWR-5"]: "failed",
                       ids["TWR-4"]: "deferred"}  # fmt: skip
    assert run["paid_paise"] == net["EXC-1"] + net["EXC-2"]
    applied = admin.sw.billers["UPPCL"].connector.connector.applied  # type: ignore[attr-defined]
    assert sorted(p.amount_paise for p in applied.values()) == sorted([net["EXC-1"], net["EXC-2"]])
    wallet = await admin.call("finance", "GET", f"/v1/agents/{payer}/wallet")
    assert wallet.json()["balance_paise"] == funds + net["TWR-4"] - run["paid_paise"]

    # Driving the same run again (as a restarted switch resumes it) pays nothing twice;
    # a new run pays what waited.
    again_run = BulkService(admin.sw.db, admin.sw.deps.service, admin.cfg.bulk, {})
    assert (await again_run.drive(run["run"]))["paid_paise"] == run["paid_paise"]
    await again_run.aclose()
    assert len(applied) == 2
    second = await pay_run(admin, l1, payer, net["TWR-4"] + net["TWR-5"])
    assert {i["bill_id"]: i["outcome"] for i in second["items"]} == {
        ids["TWR-4"]: "paid", ids["TWR-5"]: "failed"}  # fmt: skip
    assert len(applied) == 3
    got = await bills(admin, l1, payer)
    assert {k: b["state"] for k, b in got.items()} == {
        "EXC-1:EXC-1/1": "paid", "EXC-2:EXC-2/1": "paid", "EXC-2:EXC-2/2": "not_to_pay",
        "TWR-3:TWR-3/1": "not_to_pay", "TWR-4:TWR-4/1": "paid", "TWR-5:TWR-5/1": "liability",
    }  # fmt: skip
    assert "account_disconnected" in got["TWR-5:TWR-5/1"]["last_reason"]

    # A liability the ERP fails later (LF) goes back to L1, who cancels it.
    sim_fail = await sim_liability_failure(sim, ids["TWR-5"])
    assert sim_fail == "liability_failure"
    r = await admin.call(l1, "POST", f"/v1/payers/{payer}/erp")
    assert r.json()["outcomes"] == {"liability_failure": 1}
    said = await decide(admin, l1, payer, "cancel", [ids["TWR-5"]], reason="account closed")
    assert said == {ids["TWR-5"]: "ok"}
    # Every answer on the way was what the spec documents.
    assert isinstance(admin, SpecAdmin)
    assert BULK_ROUTES - admin.checked == {("POST", "/v1/payers/{payer_id}/fetches"),
                                           ("GET", "/v1/payers/{payer_id}/mis"),
                                           ("GET", "/v1/payers")}  # fmt: skip


async def sim_liability_failure(sim: ErpSimulator, bill_id: int) -> str:
    async with httpx.AsyncClient() as http:
        del http  # the simulator is in this process: its own handler, as the AO's T-code
    status, body, _ = await sim.app.handle(
        "POST", "/v1/admin/liability_failure",
        f'{{"invoice_id": "{bill_id}", "reason": "reversed by the AO"}}'.encode(),
    )  # fmt: skip
    assert status == 200, body
    return str(sim.invoices[str(bill_id)]["status"])


async def pay_run(admin: Admin, who: str, payer: str, funds: int) -> dict[str, Any]:
    r = await admin.call(who, "POST", f"/v1/payers/{payer}/runs", json={"funds_paise": funds})
    assert r.status_code == 202, r.text
    run_id = r.json()["run"]
    with trio.fail_after(30):
        while True:
            r = await admin.call(who, "GET", f"/v1/payers/{payer}/runs/{run_id}")
            if r.json()["state"] == "done":
                return dict(r.json())
            await trio.sleep(0.1)


async def test_every_sites_bill_fetched_from_its_discom_once_and_the_mis(
    admin: Admin, erp: tuple[ErpSimulator, int]
) -> None:
    """A fetch round takes in each site's current bill; a second takes in nothing new
    (a round stopped half-way is run again). The stub discom gives no meter readings,
    so each fetched bill fails the sanity check rather than being guessed."""
    payer = await a_payer(admin, erp[0])
    l1 = "circlenodal1"
    first = (await admin.call(l1, "POST", f"/v1/payers/{payer}/fetches")).json()
    assert (first["sites"], first["fetched"], first["taken_in"]) == (5, 5, 5)
    assert first["by_letter"] == {"S": 5}
    again = (await admin.call(l1, "POST", f"/v1/payers/{payer}/fetches")).json()
    assert (again["taken_in"], again["already_in"]) == (0, 5)
    got = await bills(admin, l1, payer)
    stub = {b["consumer_account"]: b["gross_paise"] for b in got.values()}
    assert stub == {a: stub_amount_paise(a) for _, a, *_ in SITES}  # what the discom asks
    r = await admin.call("finance", "GET", f"/v1/payers/{payer}/mis?by=category")
    rows = {x["key"]: x for x in r.json()["rows"]}
    assert set(rows) == {"gold", "silver", "bronze", "z"} and rows["gold"]["bills"] == 2
    assert sum(x["gross_paise"] for x in rows.values()) == sum(stub.values())
    assert all(x["dockets"] == x["bills"] for x in rows.values())  # every one failed SBV
    await decide(admin, "siteincharge1", payer, "not_to_pay", [got[k]["id"] for k in got][:2],
                 reason="no readings: ask the discom")  # fmt: skip
    r = await admin.call(l1, "GET", f"/v1/payers/{payer}/mis?by=state")
    saved = {x["key"]: x["saved_paise"] for x in r.json()["rows"]}
    assert saved["not_to_pay"] == sum(b["gross_paise"] for b in list(got.values())[:2])
    await admin.call("siteincharge1", "GET", "/v1/payers")
    assert isinstance(admin, SpecAdmin)
    assert {("POST", "/v1/payers/{payer_id}/fetches"), ("GET", "/v1/payers/{payer_id}/mis"),
            ("GET", "/v1/payers")} <= admin.checked  # fmt: skip


async def test_a_circles_own_staff_see_and_decide_only_its_bills(
    admin: Admin, erp: tuple[ErpSimulator, int]
) -> None:
    payer = await a_payer(admin, erp[0])
    r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/circles",
                         json={"id": "UPW", "name": "UP West"})  # fmt: skip
    assert r.status_code == 201, r.text
    site = {"circle_id": "UPW", "site_code": "AGR-1", "name": "Agra exchange",
            "biller_id": "UPPCL", "consumer_account": "2000000021", "meter_no": "M21",
            "cost_centre": "CC-UPW", "vendor_code": "V-UPPCL", "category": "LMV-2",
            "pay_category": "gold"}  # fmt: skip
    assert (await admin.call("onboarding", "POST", f"/v1/payers/{payer}/sites",
                             json=site)).status_code == 201  # fmt: skip
    user = {"username": "upw-si", "role": "site_incharge", "mobile": "9876500040",
            "password": PASSWORD, "circle_id": "UPW"}  # fmt: skip
    r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/users", json=user)
    assert r.status_code == 201 and r.json()["circle_id"] == "UPW", r.text
    nowhere = user | {"username": "nowhere-si", "circle_id": "XXX"}
    r = await admin.call("onboarding", "POST", f"/v1/payers/{payer}/users", json=nowhere)
    assert r.status_code == 422 and "circle_id" in r.json()["error"]["fields"]
    await admin.login("upw-si")
    rows = [bill_row("EXC-1", SITES[0][1]), bill_row("AGR-1", "2000000021")]
    await upload(admin, "circlenodal1", payer, csv_of(rows))
    everyone = await bills(admin, "siteincharge1", payer)
    assert set(everyone) == {"EXC-1:EXC-1/1", "AGR-1:AGR-1/1"}
    theirs = await bills(admin, "upw-si", payer)
    assert set(theirs) == {"AGR-1:AGR-1/1"}
    upe = everyone["EXC-1:EXC-1/1"]["id"]
    r = await admin.call("upw-si", "GET", f"/v1/payers/{payer}/bills/{upe}")
    assert r.status_code == 404
    said = await decide(admin, "upw-si", payer, "approve", [upe, theirs["AGR-1:AGR-1/1"]["id"]],
                        reason="checked")  # fmt: skip
    assert said[upe].startswith("not_found") and said[theirs["AGR-1:AGR-1/1"]["id"]] == "ok"
    mis = (await admin.call("upw-si", "GET", f"/v1/payers/{payer}/mis?by=circle")).json()
    assert [row["key"] for row in mis["rows"]] == ["UPW"]


async def test_an_erp_that_is_down_leaves_the_bills_waiting_for_the_next_round(
    admin: Admin, erp: tuple[ErpSimulator, int]
) -> None:
    sim, _ = erp
    payer = await a_payer(admin, sim)
    await upload(admin, "circlenodal1", payer, csv_of([bill_row("EXC-1", SITES[0][1])]))
    [bill] = (await bills(admin, "circlenodal1", payer)).values()
    await decide(admin, "siteincharge1", payer, "approve", [bill["id"]], reason="seen")
    await decide(admin, "dgmf1", payer, "approve", [bill["id"]])
    await decide(admin, "circlenodal1", payer, "approve", [bill["id"]])

    async def down(_: object) -> tuple[int, bytes]:
        return 503, b"maintenance"

    sim.app.raw_override = down  # type: ignore[assignment]
    r = await admin.call("circlenodal1", "POST", f"/v1/payers/{payer}/erp")
    assert r.json()["outcomes"] == {"unclear": 1}
    assert (await bills(admin, "circlenodal1", payer))["EXC-1:EXC-1/1"]["state"] == "erp"
    sim.app.raw_override = None
    r = await admin.call("circlenodal1", "POST", f"/v1/payers/{payer}/erp")
    assert r.json()["outcomes"] == {"liability": 1}
