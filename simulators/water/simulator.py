"""A village water supply scheme like mGramSeva (seed 003).

Connections are metered (billed on consumption) or non-metered (a flat charge per
billing cycle: monthly, quarterly, half-yearly or yearly). Demands for every
non-metered connection are raised in bulk for a period (``generate_demand``), as the
panchayat does at the start of a cycle; unpaid earlier demands become arrears.

Payment policy (docs/billers.md):
- partial payment: accepted, from ₹1;
- over-payment: refused (``amount_too_high``): the scheme keeps no advance;
- nothing due: ``bill_already_paid``.
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

CYCLES = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}
FLAT_MONTHLY_PAISE = 60_00
METERED_PAISE_PER_KL = 8_00
VILLAGES = ["Rampur", "Sonpur", "Kheri", "Bharwari", "Mau"]


def water_account(seed: int, n: int) -> str:
    return f"WS{seed % 100:02d}{n:06d}"


def generate_consumers(seed: int, count: int) -> list[Consumer]:
    rng = random.Random(seed * 7919 + 3)
    consumers = []
    for n in range(count):
        metered = rng.random() < 0.3
        cycle = "monthly" if metered else rng.choice(list(CYCLES))
        consumers.append(
            Consumer(
                account=water_account(seed, n),
                name=f"Household {n} ({rng.choice(VILLAGES)})",
                mobile=f"{rng.choice('6789')}{rng.randint(0, 10**9 - 1):09d}",
                amount_due_paise=0,
                details={
                    "metered": metered,
                    "cycle": cycle,
                    "village": rng.choice(VILLAGES),
                    "demands": [],
                    "last_reading_kl": rng.randint(0, 500),
                },
            )
        )
    return consumers


class WaterSimulator(BillerSimulator):
    prefix = "WT"

    def __init__(
        self, data_dir: Path, *, seed: int = 1, accounts: int = 2000, latency_s: float = 0.0
    ) -> None:
        self._rng = random.Random(seed)
        super().__init__(generate_consumers(seed, accounts), data_dir, latency_s)
        # Earlier periods left unpaid become arrears; then the current period's demand.
        today = dt.datetime.now(IST).date()
        self.generate_demand(_previous_period(today), arrears=True)
        # (Payments replayed from the log by the base class already reduced the dues;
        # demands are deterministic for the seed, so the order does not matter.)
        self.generate_demand(today.replace(day=1))

    def generate_demand(self, period_start: dt.date, arrears: bool = False) -> int:
        """Raise this period's demand for every connection whose cycle starts now."""
        raised = 0
        for c in self.consumers.values():
            d = c.details
            months = CYCLES[d["cycle"]]
            if (period_start.month - 1) % months:
                continue
            if d["metered"]:
                used = self._rng.randint(5, 40)
                amount = used * METERED_PAISE_PER_KL
                d["last_reading_kl"] += used
            else:
                amount = FLAT_MONTHLY_PAISE * months
            if arrears and self._rng.random() < 0.5:
                continue  # paid at the time
            d["demands"].append(
                {"period": period_start.isoformat(), "cycle": d["cycle"], "amount_paise": amount}
            )
            c.amount_due_paise += amount
            raised += 1
        return raised

    def check_payment(self, consumer: Consumer, amount_paise: int) -> None:
        if consumer.amount_due_paise <= 0:
            raise Refused(422, "bill_already_paid")
        if amount_paise < MIN_PAYMENT_PAISE:
            raise Refused(422, "amount_too_low")
        if amount_paise > consumer.amount_due_paise:
            raise Refused(422, "amount_too_high")

    def bill(self, consumer: Consumer) -> dict[str, Any]:
        d = consumer.details
        demands = d["demands"]
        current = demands[-1]["amount_paise"] if demands else 0
        return {
            "account": consumer.account,
            "name": consumer.name,
            "mobile": consumer.mobile,
            "amount_due_paise": max(0, consumer.amount_due_paise),
            "advance_paise": 0,
            "due_date": (dt.datetime.now(IST).date() + dt.timedelta(days=10)).isoformat(),
            "bill_number": f"{consumer.account}-{demands[-1]['period'] if demands else 'none'}",
            "details": {
                "metered": d["metered"],
                "cycle": d["cycle"],
                "village": d["village"],
                "current_amount_paise": current,
                "arrears_paise": max(0, consumer.amount_due_paise - current),
            },
        }


def _previous_period(today: dt.date) -> dt.date:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)
