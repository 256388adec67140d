"""Reconciliation's matching rules (pure): the table in switch/settlement/matching.py."""

from __future__ import annotations

import datetime as dt

from switch.protocols.billers.base import ReportedPayment
from switch.settlement.calendar import IST, Calendar
from switch.settlement.matching import Break, SwitchPay, reconcile

CAL = Calendar(dt.time(20, 0), frozenset(), frozenset())
DAY = dt.date(2026, 11, 19)
WINDOW = CAL.window(DAY)
IN_WINDOW = dt.datetime(2026, 11, 19, 12, 0, tzinfo=IST)
AFTER_CUTOFF = dt.datetime(2026, 11, 19, 20, 0, 1, tzinfo=IST)


def ours(
    pid: int,
    state: str = "posted",
    amount: int = 100_00,
    error: str | None = None,
    biller_txn: str | None = None,
) -> SwitchPay:
    return SwitchPay(pid, "AG1", amount, state, error, biller_txn or f"B{pid}")


def line(
    pid: int | None,
    amount: int = 100_00,
    status: str = "applied",
    at: dt.datetime = IN_WINDOW,
    biller_txn: str | None = None,
) -> ReportedPayment:
    return ReportedPayment(pid, biller_txn or f"B{pid}", "A", amount, status, at)


def kinds(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f.kind.value for f in result.findings)


def test_the_table() -> None:
    result = reconcile(
        WINDOW,
        [
            ours(1),  # matched
            ours(2),  # biller has another amount
            ours(3),  # biller never had it
            ours(4),  # biller reversed it
            ours(5, "voided", error="unknown_at_deadline"),  # reversed; biller kept it
            ours(6, "voided", error="bill_already_paid"),  # refused; biller kept it
            ours(7, "voided", error="expired"),  # neither has it
        ],
        [line(1), line(2, 90_00), line(4, status="reversed"), line(5), line(6), line(None, 5_00)],
    )
    assert result.matched == 2
    by_pay = {f.pay.id if f.pay else None: f.kind for f in result.findings}
    assert by_pay == {
        2: Break.AMOUNT_MISMATCH,
        3: Break.MISSING_AT_BILLER,
        4: Break.MISSING_AT_BILLER,
        5: Break.SUCCESS_AFTER_REVERSAL,
        6: Break.MISSING_AT_SWITCH,
        None: Break.MISSING_AT_SWITCH,
    }
    [mismatch] = [f for f in result.findings if f.kind is Break.AMOUNT_MISMATCH]
    assert mismatch.amount_paise == 10_00 and "90" in mismatch.detail()


def test_a_line_without_our_id_is_matched_by_the_billers_txn_id() -> None:
    result = reconcile(WINDOW, [ours(1, biller_txn="EL1")], [line(None, biller_txn="EL1")])
    assert (result.matched, result.findings) == (1, [])


def test_applied_just_after_the_cutoff_still_matches_its_pay() -> None:
    # Made before the cut-off, applied just after: matched in this window ...
    assert reconcile(WINDOW, [ours(1)], [line(1, at=AFTER_CUTOFF)]).matched == 1
    # ... and in the next window's run the same line is not "missing at switch".
    next_window = CAL.window(CAL.next_business_day(DAY))
    result = reconcile(next_window, [], [line(1, at=AFTER_CUTOFF)], frozenset({1}))
    assert result.findings == []


def test_an_unknown_line_belongs_to_the_window_it_was_applied_in() -> None:
    stray = line(None, at=AFTER_CUTOFF)
    assert reconcile(WINDOW, [], [stray]).findings == []
    next_window = CAL.window(CAL.next_business_day(DAY))
    assert kinds(reconcile(next_window, [], [stray])) == ["missing_at_switch"]
