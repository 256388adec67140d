"""A village water supply scheme like mGramSeva (a committee billing its connections).

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
from simulators.common.http import HttpRequest

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
        # Each connection's previous cycle, sometimes unpaid (arrears), then its current one.
        today = dt.datetime.now(IST).date()
        for back, arrears in ((1, True), (0, False)):
            for c in self.consumers.values():
                self.raise_demand(c, cycle_start(today, c.details["cycle"], back), arrears=arrears)
        self.app.route("POST", "/v1/admin/demand")(self._bulk_demand)

    def raise_demand(self, c: Consumer, period: dt.date, arrears: bool = False) -> bool:
        """One connection's demand for the cycle starting at ``period`` (once per period)."""
        d = c.details
        if any(x["period"] == period.isoformat() for x in d["demands"]):
            return False
        months = CYCLES[d["cycle"]]
        if d["metered"]:
            used = self._rng.randint(5, 40)
            amount = used * METERED_PAISE_PER_KL
            d["last_reading_kl"] += used
        else:
            amount = FLAT_MONTHLY_PAISE * months
        if arrears and self._rng.random() < 0.5:
            return False  # that cycle was paid at the time
        d["demands"].append(
            {"period": period.isoformat(), "cycle": d["cycle"], "amount_paise": amount}
        )
        c.amount_due_paise += amount
        return True

    def generate_demand(self, period: dt.date) -> int:
        """Bulk demand (as the panchayat raises it): every connection whose cycle starts
        in ``period``'s month gets that cycle's demand. Returns how many were raised."""
        period = period.replace(day=1)
        raised = 0
        for c in self.consumers.values():
            if (period.month - 1) % CYCLES[c.details["cycle"]] == 0:
                raised += self.raise_demand(c, period)
        return raised

    async def _bulk_demand(self, req: HttpRequest) -> tuple[int, Any]:
        try:
            period = dt.date.fromisoformat(req.body["period"])
        except (TypeError, KeyError, ValueError):
            return 400, {"error": "invalid_request", "detail": "period: YYYY-MM-DD"}
        return 200, {
            "period": period.replace(day=1).isoformat(),
            "raised": self.generate_demand(period),
        }

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


def cycle_start(today: dt.date, cycle: str, cycles_back: int = 0) -> dt.date:
    """First day of the billing cycle containing ``today``, or ``cycles_back`` before it."""
    months = CYCLES[cycle]
    index = (today.year * 12 + today.month - 1) // months * months - cycles_back * months
    return dt.date(index // 12, index % 12 + 1, 1)
