"""Staff reading reports, search and one pay over a month that was archived are told
so: the figures leave that month out, and a pay of it says where it went."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from switch.history import archive as archiving
from switch.history.months import month_base, month_name, next_month, this_month
from switch.provisioning.credentials import Credentials
from tests.admin.conftest import Admin
from tests.history.test_archive import two_months_on
from tests.settlement.conftest import calendar_cut_at, db_now, pay, settlement_for


async def test_reports_and_search_over_an_archived_month_say_so(
    admin: Admin, terminals: list[Credentials], tmp_path: Path
) -> None:
    switch = admin.sw
    txn = await pay(terminals[0], "R1", 150_00)
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    await settlement_for(switch, tmp_path / "settle", cal).close("UPPCL", day, now=cut)
    month = this_month()
    before_archive = await admin.call("finance", "GET", "/v1/reports/totals")
    assert before_archive.json()["archived_months"] == []
    assert before_archive.json()["rows"] != []

    await switch.db.run(
        lambda c: archiving.archive(c, next_month(month), tmp_path, now=two_months_on())
    )

    totals = (await admin.call("finance", "GET", "/v1/reports/totals")).json()
    assert totals["rows"] == [] and totals["archived_months"] == [month_name(month)]
    as_csv = await admin.call("finance", "GET", "/v1/reports/totals", params={"format": "csv"})
    assert as_csv.headers["x-archived-months"] == month_name(month)
    params = {"agent_id": terminals[0].agent_id}
    statement = (await admin.call("finance", "GET", "/v1/reports/statement", params=params)).json()
    assert statement["payments"] == [] and statement["archived_months"] == [month_name(month)]
    found = (await admin.call("operations", "GET", "/v1/transactions")).json()
    assert found["items"] == [] and found["archived_months"] == [month_name(month)]
    one = await admin.call("operations", "GET", f"/v1/transactions/{txn}")
    assert one.status_code == 404 and "was archived" in one.json()["error"]["message"]
    # An id of a month not archived is simply not found.
    later = month_base(next_month(month)) + 999
    never = await admin.call("operations", "GET", f"/v1/transactions/{later}")
    assert never.status_code == 404 and "no transaction" in never.json()["error"]["message"]
