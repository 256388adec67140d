"""Which approved bills a run's allocated funds pay, pure.

1. Bills are taken in priority order: pay category (Gold, Silver, Bronze, then Z),
   then the earliest due date, then the smaller amount, then the bill's id (so the
   order is total and a rerun orders the same).
2. A bill is paid whole or not at all: never in part.
3. A bill the funds left cannot cover is deferred, with the reason, and the next bill
   is tried: the funds go as far down the order as they reach. So every deferred bill
   is larger than what is left at the end (no deferred bill would have fitted).
4. Funds smaller than the cheapest bill pay nothing; every bill is deferred.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CATEGORIES = ("gold", "silver", "bronze", "z")


@dataclass(frozen=True)
class Candidate:
    bill_id: int
    category: str  # one of CATEGORIES
    due_date: dt.date
    amount_paise: int  # the bill's net payable

    @property
    def order(self) -> tuple[int, dt.date, int, int]:
        return CATEGORIES.index(self.category), self.due_date, self.amount_paise, self.bill_id


@dataclass(frozen=True)
class Plan:
    paid: tuple[Candidate, ...]
    deferred: tuple[tuple[Candidate, str], ...]  # each with why
    funds_paise: int

    @property
    def total_paise(self) -> int:
        return sum(c.amount_paise for c in self.paid)

    @property
    def left_paise(self) -> int:
        return self.funds_paise - self.total_paise


def plan(bills: list[Candidate], funds_paise: int) -> Plan:
    assert funds_paise >= 0, funds_paise
    left = funds_paise
    paid: list[Candidate] = []
    deferred: list[tuple[Candidate, str]] = []
    for bill in sorted(bills, key=lambda c: c.order):
        assert bill.amount_paise > 0, bill
        if bill.amount_paise <= left:
            paid.append(bill)
            left -= bill.amount_paise
        else:
            deferred.append((bill, f"needs {bill.amount_paise} paise; {left} left of the funds"))
    result = Plan(tuple(paid), tuple(deferred), funds_paise)
    assert result.left_paise == left >= 0
    return result
