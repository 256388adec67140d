"""Settlement windows: close at the cut-off, move the money atomically, write the file;
idempotent, one closer at a time, never before every pay of the day is final."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import subprocess
from pathlib import Path

import pytest
import trio

from switch.ledger import pay_key
from switch.ledger.types import FEE_INCOME_CODE
from switch.pays.states import PayState
from switch.pays.store import NewPay
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch
from switch.settlement import amounts, files
from switch.settlement.store import NotDue, PaysInFlight, SettlementError
from tests.helpers import scalar
from tests.settlement.conftest import (
    UPPCL,
    balance,
    calendar_cut_at,
    created_at,
    db_now,
    pay,
    pay_store,
    settlement_for,
    wallet_of,
)


def settle_transfers(sw: RunningSwitch) -> int:
    return scalar(sw.db.url, "SELECT count(*) FROM transfers WHERE idem_key LIKE 'settle:%'")


def sha256sum_accepts(path: Path) -> bool:
    check = subprocess.run(
        ["sha256sum", "-c", path.name + ".sha256"], cwd=path.parent, capture_output=True
    )
    return check.returncode == 0


async def test_pays_either_side_of_the_cutoff_settle_on_their_own_days(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    agent = terminals[0].agent_id
    first = await pay(terminals[0], "A1", 1234_56)
    await pay(terminals[1], "A2", 99_99)
    cut = await db_now(switch)
    await trio.sleep(0.02)
    late = await pay(terminals[0], "B1", 500_00)
    cal = calendar_cut_at(cut)
    day = cal.business_date(await created_at(switch, first))
    assert cal.business_date(await created_at(switch, late)) == cal.next_business_day(day)
    s = settlement_for(switch, tmp_path, cal)
    wallet_before = await wallet_of(switch, agent)

    w = await s.close("UPPCL", day, now=cut + dt.timedelta(seconds=1))

    commission = amounts.commission_paise(1234_56, 50) + amounts.commission_paise(99_99, 50)
    assert (w.state, w.pay_count, w.gross_paise) == ("settled", 2, 1234_56 + 99_99)
    assert (w.commission_paise, w.fee_paise) == (commission, 200)
    assert w.net_paise == 1234_56 + 99_99 - commission - 200
    # The money moved: commission to each agent's wallet, fee to the switch, the rest
    # out to the biller's bank; the late pay waits in the payable for its own day.
    assert await wallet_of(switch, agent) == wallet_before + amounts.commission_paise(1234_56, 50)
    assert await balance(switch, FEE_INCOME_CODE) == 200
    assert await balance(switch, "biller:UPPCL") == 500_00
    with pytest.raises(NotDue):
        await s.close("UPPCL", cal.next_business_day(day), now=cut + dt.timedelta(seconds=1))
    assert await switch.ledger.check_invariants() == []


async def test_the_settlement_file_and_its_checksum(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    ids = [await pay(terminals[n % 2], f"F{n}", 100_00 + n) for n in range(5)]
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    w = await settlement_for(switch, tmp_path, cal).close("UPPCL", day, now=cut)
    path = tmp_path / "UPPCL" / f"UPPCL_{day.isoformat()}.csv"
    content = path.read_bytes()
    assert files.verify(path) and files.digest(content) == w.file_sha256
    # sha256sum agrees with the checksum file (the format it reads).
    assert sha256sum_accepts(path)
    rows = list(csv.reader(io.StringIO(content.decode())))
    header, lines, trailer = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["H", "UPPCL", day.isoformat()]
    assert int(header[5]) == 5 and int(header[6]) == sum(100_00 + n for n in range(5))
    assert [int(r[1]) for r in lines] == ids and all(r[0] == "D" for r in lines)
    assert trailer == ["T", "5", str(sum(100_00 + n for n in range(5))), "0", "0"]
    # A tampered file no longer verifies.
    path.write_bytes(content.replace(b"10000", b"10001", 1))
    assert not files.verify(path)


async def test_closing_again_changes_nothing_and_writes_the_same_file(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    await pay(terminals[0], "I1", 321_00)
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    s = settlement_for(switch, tmp_path, cal)
    first = await s.close("UPPCL", day, now=cut)
    path = tmp_path / "UPPCL" / f"UPPCL_{day.isoformat()}.csv"
    content, moved = path.read_bytes(), settle_transfers(switch)
    again = await s.close("UPPCL", day, now=cut + dt.timedelta(hours=1))
    assert again == first and settle_transfers(switch) == moved
    assert path.read_bytes() == content
    # A later change of the commission rate never rewrites a settled day.
    richer = dataclasses.replace(UPPCL, commission_bps=900)
    s2 = settlement_for(switch, tmp_path, cal, billers=(richer,))
    assert await s2.close("UPPCL", day, now=cut) == first
    [result] = await s2.files(day, verify=False)
    assert result["ok"] and path.read_bytes() == content


async def test_two_closers_at_once_settle_the_window_once(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    for n in range(4):
        await pay(terminals[n % 2], f"C{n}", 250_00)
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    results = []

    async def close() -> None:
        s = settlement_for(switch, tmp_path, cal)  # as another switch process would
        results.append(await s.close("UPPCL", day, now=cut))

    async with trio.open_nursery() as n:
        for _ in range(4):
            n.start_soon(close)
    assert len({r.id for r in results}) == 1 and all(r.state == "settled" for r in results)
    # Commission to two agents, the fee, the payout: four transfers, once.
    assert settle_transfers(switch) == 4
    assert await balance(switch, "biller:UPPCL") == 0


async def test_a_window_waits_for_pays_still_in_flight(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    creds = terminals[0]
    await pay(creds, "W1", 100_00)
    stuck, _ = await pay_store(switch).claim(
        NewPay(creds.terminal_id, "W2", creds.agent_id, "UPPCL", "1234500001", 200_00)
    )
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    s = settlement_for(switch, tmp_path, cal)
    with pytest.raises(PaysInFlight, match="1 pays"):
        await s.close("UPPCL", day, now=cut)
    assert await s.close_due(now=cut) == [] and s.stats.waiting == 1
    assert scalar(switch.db.url, "SELECT count(*) FROM settlement_windows") == 0
    # Recovery finishes the stuck pay (never sent: expired), then the day settles.
    await pay_store(switch).move(stuck, PayState.VOIDED, error_code="expired")
    [w] = await s.close_due(now=cut)
    assert (w.business_date, w.pay_count, w.gross_paise) == (day, 1, 100_00)


async def test_the_ledger_refusing_one_transfer_settles_nothing(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    """A pay marked posted whose hold never reached the biller's payable (an orphan
    hold recovery has not resolved yet): the payout cannot be covered, so none of the
    window's transfers happen and it stays closed until the hold is posted."""
    creds = terminals[0]
    await pay(creds, "O1", 100_00)
    orphan, _ = await pay_store(switch).claim(
        NewPay(creds.terminal_id, "O2", creds.agent_id, "UPPCL", "1234500002", 300_00)
    )
    wallet_id = await switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    key = pay_key(creds.terminal_id, "O2")
    payable = switch.billers["UPPCL"].payable_account_id
    await switch.ledger.reserve(key, wallet_id, payable, 300_00)
    orphan = await pay_store(switch).move(orphan, PayState.SENT)
    await pay_store(switch).move(orphan, PayState.POSTED, biller_txn_id="UPPCL-x")
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    s = settlement_for(switch, tmp_path, cal)
    before = await wallet_of(switch, creds.agent_id)
    with pytest.raises(SettlementError, match="ledger refused"):
        await s.close("UPPCL", day, now=cut)
    assert settle_transfers(switch) == 0 and await wallet_of(switch, creds.agent_id) == before
    assert scalar(switch.db.url, "SELECT state FROM settlement_windows") == "closed"
    await switch.ledger.post(key)
    w = await s.close("UPPCL", day, now=cut)
    assert w.state == "settled" and w.gross_paise == 400_00
    assert await balance(switch, "biller:UPPCL") == 0


async def test_a_pay_on_a_holiday_settles_on_the_next_business_day(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    await pay(terminals[0], "H1", 150_00)
    now = await db_now(switch)
    today = cal_today = calendar_cut_at(now + dt.timedelta(hours=1)).business_date(now)
    cal = calendar_cut_at(now + dt.timedelta(hours=1), holidays=[today])
    next_day = cal.business_date(now)
    assert next_day == cal_today + dt.timedelta(days=1)
    s = settlement_for(switch, tmp_path, cal)
    window = cal.window(next_day)
    assert window.starts_at < now < window.ends_at
    w = await s.close("UPPCL", next_day, now=window.ends_at)
    assert (w.business_date, w.pay_count) == (next_day, 1)


async def test_close_due_catches_up_day_by_day_and_then_has_nothing_to_do(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    await pay(terminals[0], "D1", 100_00)
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    s = settlement_for(switch, tmp_path, cal)
    three_days_on = cut + dt.timedelta(days=3)
    windows = await s.close_due(now=three_days_on)
    assert [w.pay_count for w in windows] == [1, 0, 0, 0]
    assert [w.business_date for w in windows] == sorted(w.business_date for w in windows)
    assert await s.close_due(now=three_days_on) == []
    assert all(w.state == "settled" for w in await s.windows())


async def test_sql_and_python_share_out_a_pay_the_same_way(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    cheap = dataclasses.replace(UPPCL, commission_bps=333, fee_paise=250)
    for n, amount in enumerate((100, 101, 257, 9_000_00)):
        await pay(terminals[0], f"S{n}", amount)
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    await settlement_for(switch, tmp_path, cal, billers=(cheap,)).close("UPPCL", day, now=cut)
    rows = await switch.db.fetch(
        "SELECT amount_paise, commission_paise, fee_paise FROM settlement_items"
    )
    for r in rows:
        assert r["commission_paise"] == amounts.commission_paise(r["amount_paise"], 333)
        assert r["fee_paise"] == amounts.fee_paise(r["amount_paise"], 333, 250)
    assert {r["fee_paise"] for r in rows if r["amount_paise"] == 100} == {97}  # capped


async def test_a_refund_larger_than_a_window_is_recovered_in_part_and_carried(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    """The biller owes a refund (a pay of a settled day it never kept) larger than the
    next window can bear: that window recovers all it can (its payout is 0) and the
    rest stays owed in the receivable, for the windows after it."""
    from switch.settlement import cases

    first = await pay(terminals[0], "R1", 200_00)
    cut = await db_now(switch)
    await trio.sleep(0.02)
    await pay(terminals[1], "R2", 50_00)
    cal = calendar_cut_at(cut)
    s = settlement_for(switch, tmp_path, cal)
    day1 = cal.business_date(await created_at(switch, first))
    await s.close("UPPCL", day1, now=cut + dt.timedelta(seconds=1))
    case_id = await switch.db.fetchval(
        """INSERT INTO recon_cases (kind, pay_id, biller_id, amount_paise, detail,
               suggested_action, business_date)
           VALUES ('missing_at_biller', $1, 'UPPCL', 200_00, 'test', 'refund_agent', $2)
           RETURNING id""",
        first,
        day1,
    )
    done = await cases.resolve(
        switch.db, case_id, "refund_agent", "finance1", "biller confirms", [UPPCL]
    )
    owed = 200_00 - amounts.commission_paise(200_00, 50) - 100  # what the biller was paid
    assert done.plan.adjustment_paise == owed
    assert await balance(switch, "receivable:UPPCL") == -owed
    day2 = cal.next_business_day(day1)
    w2 = await s.close("UPPCL", day2, now=cal.window(day2).ends_at)
    available = 50_00 - amounts.commission_paise(50_00, 50) - 100
    assert (w2.recovered_paise, w2.net_paise) == (available, 0)
    assert await balance(switch, "receivable:UPPCL") == -owed + available
    day3 = cal.next_business_day(day2)
    w3 = await s.close("UPPCL", day3, now=cal.window(day3).ends_at)
    assert (w3.pay_count, w3.recovered_paise, w3.net_paise) == (0, 0, 0)
    assert await balance(switch, "biller:UPPCL") == 0
    assert await switch.ledger.check_invariants() == []
