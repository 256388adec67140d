"""Operations close a due day and reconcile it through the admin API: a switch whose
cut-off falls a few seconds into the test, with no day off and no closer of its own."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import trio

from switch.config import Config
from switch.settlement.calendar import IST
from tests.admin.conftest import Admin
from tests.admin.test_wallets_complaints import funded_terminal, pay
from tests.settlement.conftest import created_at, db_now

CUTOFF_IN_S = 10.0  # room for the fixture's set-up on a slow machine


@pytest.fixture
def switch_config(switch_config: Config, tmp_path: Path) -> Config:
    holidays = tmp_path / "no-holidays.toml"
    holidays.write_text("holidays = []\n")
    cutoff = (dt.datetime.now(IST) + dt.timedelta(seconds=CUTOFF_IN_S)).time()
    settlement = dataclasses.replace(
        switch_config.settlement,
        cutoff=cutoff.isoformat(),
        weekend="",
        holidays_file=str(holidays),
        close_grace_s=0.0,
        auto_close=False,  # the test is the one closer
        files_dir=str(tmp_path / "files"),
    )
    return switch_config.replace(settlement=settlement)


async def test_operations_close_a_due_day_and_reconcile_it(admin: Admin) -> None:
    _, creds = await funded_terminal(admin, 1)
    ids = [int((await pay(creds, f"D{n}", 100_00))["txn"]) for n in range(2)]
    calendar = admin.sw.settlement.calendar
    day = calendar.business_date(await created_at(admin.sw, ids[-1]))
    cutoff = calendar.window(day).ends_at
    assert cutoff - await db_now(admin.sw) < dt.timedelta(seconds=CUTOFF_IN_S), (
        "the set-up took longer than CUTOFF_IN_S: the pays fell after the cut-off"
    )
    with trio.fail_after(CUTOFF_IN_S + 5):  # the cut-off passes
        while await db_now(admin.sw) < calendar.window(day).ends_at:  # noqa: ASYNC110
            await trio.sleep(0.1)

    r = await admin.call("operations", "POST", "/v1/settlement/close", json={})
    assert r.status_code == 200, r.text
    [w] = r.json()["settled"]
    assert (w["business_date"], w["pay_count"], w["state"]) == (str(day), 2, "settled")
    assert w["gross_paise"] == 200_00
    actors = await admin.sw.db.fetch(
        "SELECT actor FROM audit_log WHERE action = 'settlement.close' AND object_id = $1",
        str(w["id"]),
    )
    assert [a["actor"] for a in actors] == ["operations"]
    again = await admin.call("operations", "POST", "/v1/settlement/close", json={})
    assert again.json()["settled"] == []  # nothing more is due

    # The biller's own books (the stub's) agree: both pays matched, no case opened.
    r = await admin.call("finance", "POST", "/v1/recon/run", json={})
    assert r.status_code == 200, r.text
    [summary] = r.json()["reconciled"]
    assert (summary["business_date"], summary["matched"]) == (str(day), len(ids))
    assert sum(summary["breaks"].values()) == 0 and summary["new_cases"] == 0
    assert (await admin.call("finance", "GET", "/v1/recon/cases")).json()["items"] == []
    again = await admin.call("finance", "POST", "/v1/recon/run", json={})
    assert again.json()["reconciled"] == []  # every settled day reconciled
    assert (await admin.call("support", "POST", "/v1/recon/run", json={})).status_code == 403
