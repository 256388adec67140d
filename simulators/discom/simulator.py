"""A discom (electricity distribution company, the biller) like UPPCL.

Consumers are generated deterministically from a seed: a 10-digit account number,
name, mobile, area (R-APDRP urban or non-RAPDRP rural), and a bill from meter
readings: OMR (old) and CMR (current) readings, units = CMR - OMR, energy charge at
the area's tariff plus a fixed charge, arrears, and a due date.

Payment policy (docs/billers.md):
- partial payment: accepted, from ₹1; the rest stays due;
- over-payment: accepted up to ₹10,000 above the amount due, kept as advance credit
  (the next bill is reduced); beyond that ``amount_too_high``;
- a bill already paid (nothing due, or advance credit): ``bill_already_paid``.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from simulators.common.biller import (
    IST,
    MIN_PAYMENT_PAISE,
    BillerSimulator,
    Consumer,
    Refused,
)

MAX_ADVANCE_PAISE = 10_000_00
FIRST_NAMES = [
    "Ram",
    "Sita",
    "Mohan",
    "Geeta",
    "Suresh",
    "Anita",
    "Rakesh",
    "Pooja",
    "Vijay",
    "Meena",
]
SURNAMES = [
    "Yadav",
    "Sharma",
    "Verma",
    "Gupta",
    "Singh",
    "Maurya",
    "Pal",
    "Nishad",
    "Kumar",
    "Devi",
]
TARIFF_PAISE_PER_UNIT = {"R-APDRP": 650, "non-RAPDRP": 550}
FIXED_CHARGE_PAISE = {"R-APDRP": 110_00, "non-RAPDRP": 90_00}


def discom_account(seed: int, n: int) -> str:
    """The n-th consumer's account number (also used by the demo to pick consumers)."""
    return f"{2_000_000_000 + (seed % 1000) * 1_000_000 + n}"


def generate_consumers(seed: int, count: int) -> list[Consumer]:
    rng = random.Random(seed)
    today = dt.datetime.now(IST).date()
    consumers = []
    for n in range(count):
        area = "R-APDRP" if rng.random() < 0.4 else "non-RAPDRP"
        omr = rng.randint(1000, 90000)
        units = rng.randint(30, 600)
        current = units * TARIFF_PAISE_PER_UNIT[area] + FIXED_CHARGE_PAISE[area]
        arrears = rng.choice([0, 0, 0, rng.randint(1, 20) * 100_00])
        consumers.append(
            Consumer(
                account=discom_account(seed, n),
                name=f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
                mobile=f"{rng.choice('6789')}{rng.randint(0, 10**9 - 1):09d}",
                amount_due_paise=current + arrears,
                details={
                    "area": area,
                    "omr": omr,
                    "cmr": omr + units,
                    "units": units,
                    "current_amount_paise": current,
                    "arrears_paise": arrears,
                    "due_date": (today + dt.timedelta(days=rng.randint(3, 20))).isoformat(),
                    "bill_number": f"UP{rng.randint(10**9, 10**10 - 1)}",
                },
            )
        )
    return consumers


class DiscomSimulator(BillerSimulator):
    prefix = "EL"

    def __init__(
        self, data_dir: Path, *, seed: int = 1, accounts: int = 5000, latency_s: float = 0.0
    ) -> None:
        super().__init__(generate_consumers(seed, accounts), data_dir, latency_s)

    def check_payment(self, consumer: Consumer, amount_paise: int) -> None:
        if consumer.amount_due_paise <= 0:
            raise Refused(422, "bill_already_paid")
        if amount_paise < MIN_PAYMENT_PAISE:
            raise Refused(422, "amount_too_low")
        if amount_paise > consumer.amount_due_paise + MAX_ADVANCE_PAISE:
            raise Refused(422, "amount_too_high")

    def bill(self, consumer: Consumer) -> dict[str, Any]:
        d = consumer.details
        return {
            "account": consumer.account,
            "name": consumer.name,
            "mobile": consumer.mobile,
            "amount_due_paise": max(0, consumer.amount_due_paise),
            "advance_paise": max(0, -consumer.amount_due_paise),
            "due_date": d["due_date"],
            "bill_number": d["bill_number"],
            "details": {
                k: d[k]
                for k in ("area", "omr", "cmr", "units", "current_amount_paise", "arrears_paise")
            },
        }
