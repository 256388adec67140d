"""MIS and settlement through the admin API: an agent's statement (JSON, CSV, only
its own), totals by group, the chart, settlement windows and their files (the bytes
that settled, checksum included)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

from switch.settlement import files
from switch.settlement.calendar import IST
from tests.admin.conftest import Admin, agent_login
from tests.admin.test_wallets_complaints import funded_terminal, pay
from tests.settlement.conftest import calendar_cut_at, db_now, settlement_for


async def test_statement_and_totals_agree_with_the_pays(admin: Admin) -> None:
    a, ta = await funded_terminal(admin, 1)
    b, tb = await funded_terminal(admin, 2)
    for n, amount in enumerate((100_00, 250_00, 99_99)):
        assert (await pay(ta, f"A{n}", amount))["status"] == "success"
    assert (await pay(tb, "B0", 40_00))["status"] == "success"
    assert (await pay(ta, "A-over", 10_000_00))["status"] != "success"  # beyond the wallet
    today = dt.datetime.now(IST).date().isoformat()

    r = await admin.call("support", "GET", "/v1/reports/statement", params={"agent_id": a})
    assert r.status_code == 200, r.text
    statement = r.json()
    assert statement["agent"]["id"] == a and statement["to"] == today
    assert statement["summary"] | {"commission_paise": 0} == {
        "pays": 4,
        "posted": 3,
        "failed": 1,
        "pending": 0,
        "amount_posted_paise": 449_99,
        "commission_paise": 0,
        "truncated": False,
    }
    assert [p["terminal_ref"] for p in statement["payments"]] == ["A0", "A1", "A2", "A-over"]

    # The agent's own login gets the same statement, as CSV too; never another's.
    me = await agent_login(admin, a)
    mine = await admin.call(me, "GET", "/v1/reports/statement")
    assert mine.json()["summary"] == statement["summary"]
    as_csv = await admin.call(me, "GET", "/v1/reports/statement", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(x["amount_paise"]) for x in rows] == [100_00, 250_00, 99_99, 10_000_00]
    other = await admin.call(me, "GET", "/v1/reports/statement", params={"agent_id": b})
    assert other.status_code == 404
    assert (await admin.call(me, "GET", "/v1/reports/totals")).status_code == 403

    r = await admin.call("finance", "GET", "/v1/reports/totals", params={"by": "agent"})
    by_agent = {x["agent"]: x for x in r.json()["rows"]}
    assert by_agent[a]["posted"] == 3 and by_agent[a]["amount_posted_paise"] == 449_99
    assert by_agent[b]["posted"] == 1 and by_agent[b]["amount_posted_paise"] == 40_00
    r = await admin.call(
        "auditor", "GET", "/v1/reports/totals", params={"by": "region,biller", "format": "csv"}
    )
    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert (row["region"], row["biller"], row["posted"]) == ("Purvanchal", "UPPCL", "4")

    png = await admin.call("operations", "GET", "/v1/reports/chart.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 10_000


async def test_report_requests_that_make_no_sense_are_refused_field_by_field(
    admin: Admin,
) -> None:
    async def error(path: str, **params: str) -> dict[str, object]:
        r = await admin.call("finance", "GET", path, params=params)
        assert r.status_code == 422, r.text
        err: dict[str, object] = r.json()["error"]
        assert err["code"] == "invalid_request"
        return err

    assert "by" in (await error("/v1/reports/totals", by="planet"))["fields"]  # type: ignore[operator]
    assert "by" in (await error("/v1/reports/totals", by="day,day"))["fields"]  # type: ignore[operator]
    backwards = await error("/v1/reports/totals", **{"from": "2026-03-02", "to": "2026-03-01"})
    assert backwards["fields"] == {"to": "before from"}
    too_long = await error("/v1/reports/chart.png", **{"from": "2024-01-01", "to": "2026-01-01"})
    assert "from" in too_long["fields"]  # type: ignore[operator]
    # The first days of the calendar are a range like any other, not a 500.
    early = await admin.call("finance", "GET", "/v1/reports/totals", params={"to": "0001-01-10"})
    assert early.status_code == 200 and early.json()["from"] == "0001-01-01"
    assert "agent_id" in (await error("/v1/reports/statement"))["fields"]  # type: ignore[operator]
    r = await admin.call("finance", "GET", "/v1/reports/statement", params={"agent_id": "AG999999"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_settlement_windows_and_the_file_that_settled(admin: Admin, tmp_path: Path) -> None:
    _, creds = await funded_terminal(admin, 1)
    for n in range(3):
        assert (await pay(creds, f"S{n}", 100_00 + n))["status"] == "success"
    # What the open window holds so far, by the switch's own calendar.
    r = await admin.call("operations", "GET", "/v1/settlement/open")
    assert r.status_code == 200, r.text
    [uppcl] = r.json()["billers"]
    assert (uppcl["biller_id"], uppcl["posted"], uppcl["posted_paise"]) == ("UPPCL", 3, 300_03)
    assert uppcl["in_flight"] == 0 and uppcl["due_unsettled"] == []
    assert r.json()["runs"]["failed"] == 0

    cut = await db_now(admin.sw)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    w = await settlement_for(admin.sw, tmp_path, cal).close("UPPCL", day, now=cut)

    r = await admin.call("finance", "GET", "/v1/settlement/windows", params={"biller_id": "UPPCL"})
    [listed] = r.json()["items"]
    assert listed["id"] == w.id and listed["state"] == "settled" and listed["pay_count"] == 3
    assert listed["gross_paise"] == 300_03 and listed["business_date"] == day.isoformat()
    r = await admin.call("finance", "GET", "/v1/settlement/windows", params={"state": "closed"})
    assert r.json()["items"] == []

    got = await admin.call("auditor", "GET", f"/v1/settlement/windows/{w.id}/file")
    assert got.status_code == 200, got.text
    on_disk = (tmp_path / "UPPCL" / files.file_name(w)).read_bytes()
    assert got.content == on_disk
    assert got.headers["x-checksum-sha256"] == w.file_sha256
    assert hashlib.sha256(got.content).hexdigest() == w.file_sha256
    assert files.file_name(w) in got.headers["content-disposition"]
    missing = await admin.call("finance", "GET", "/v1/settlement/windows/999999/file")
    assert missing.status_code == 404


async def test_a_window_file_that_no_longer_matches_is_not_served(
    admin: Admin, tmp_path: Path
) -> None:
    """Rows changed behind the switch's back: the download refuses rather than hand
    finance a file that is not what settled."""
    _, creds = await funded_terminal(admin, 1)
    assert (await pay(creds, "T0", 100_00))["status"] == "success"
    cut = await db_now(admin.sw)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    w = await settlement_for(admin.sw, tmp_path, cal).close("UPPCL", day, now=cut)
    await admin.sw.db.execute(
        "UPDATE settlement_items SET fee_paise = fee_paise + 1 WHERE window_id = $1", w.id
    )
    r = await admin.call("finance", "GET", f"/v1/settlement/windows/{w.id}/file")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "no longer matches" in r.json()["error"]["message"]


async def test_a_day_is_not_closed_before_its_cut_off(admin: Admin) -> None:
    _, creds = await funded_terminal(admin, 1)
    assert (await pay(creds, "E0", 100_00))["status"] == "success"
    today = admin.sw.settlement.calendar.business_date(await db_now(admin.sw))
    r = await admin.call(
        "operations", "POST", "/v1/settlement/close", json={"business_date": str(today)}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    assert r.json()["error"]["message"].startswith(f"UPPCL {today}: closes at ")
    assert await admin.sw.db.fetchval("SELECT count(*) FROM settlement_windows") == 0
    bad = await admin.call("finance", "POST", "/v1/settlement/close", json={"biller_id": "NOPE"})
    assert bad.status_code == 404
    for path in ("/v1/settlement/close", "/v1/recon/run"):
        for day in ("2026-11-21", "1999-12-31"):  # a Saturday; before any business day
            r = await admin.call("finance", "POST", path, json={"business_date": day})
            assert r.status_code == 422, (path, day, r.text)
            assert "business_date" in r.json()["error"]["fields"]
