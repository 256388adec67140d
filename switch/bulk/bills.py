"""A site's electricity bill as the checks read it, and the money it asks for.

Amounts are integer paise; meter readings and units are whole kWh. An earlier month
is what the site's earlier bill said (its units, its current amount, its closing
reading), newest first.

| figure | is |
|---|---|
| current amount | this period's tariff charges: energy, fixed or demand, fuel, duty |
| invoice amount | current amount + meter rent + taxes + surcharge + TCS |
| gross | invoice amount + arrears (negative arrears: a credit) |
| tariff gross | current amount + meter rent + taxes: what OBV recomputes |
| net payable | gross - TDS: what the discom is paid (TDS goes to the tax department) |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

BILLING_TYPES = ("normal", "average", "provisional", "assessed")


@dataclass(frozen=True)
class Month:
    """One earlier bill of the site."""

    units: int
    current_paise: int
    cmr: int | None = None


@dataclass(frozen=True)
class Bill:
    site_id: str
    bill_no: str
    bill_date: dt.date
    due_date: dt.date
    units: int
    current_paise: int
    omr: int | None = None  # opening meter reading
    cmr: int | None = None  # closing meter reading
    multiplying_factor: int = 1  # the meter's CT ratio: units = (CMR - OMR) x MF
    billing_type: str = "normal"  # one of BILLING_TYPES; "average" etc. are not read
    meter_status: str = "ok"  # as the discom printed it ("faulty", "stuck", ...)
    arrears_paise: int = 0
    taxes_paise: int = 0
    meter_rent_paise: int = 0
    surcharge_paise: int = 0
    tcs_paise: int = 0
    billing_days: int | None = None
    # Dynamic tariff parameters the bill carries beyond units and days (a fuel
    # adjustment rate in paise per unit, a recorded demand in kVA): by name.
    dynamic: dict[str, Decimal] = field(default_factory=dict)
    history: tuple[Month, ...] = ()  # newest first

    @property
    def invoice_paise(self) -> int:
        return (
            self.current_paise
            + self.meter_rent_paise
            + self.taxes_paise
            + self.surcharge_paise
            + self.tcs_paise
        )

    @property
    def gross_paise(self) -> int:
        return self.invoice_paise + self.arrears_paise

    @property
    def tariff_gross_paise(self) -> int:
        return self.current_paise + self.meter_rent_paise + self.taxes_paise


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (a tariff's each line is rounded so)."""
    whole, rest = divmod(numerator, denominator)
    return whole + (1 if 2 * rest >= denominator else 0)


def tds_paise(gross_paise: int, tds_percent: Decimal) -> int:
    """Tax deducted at source from a bill's gross (never below nothing)."""
    rate = Fraction(tds_percent)
    return max(0, half_up(gross_paise * rate.numerator, 100 * rate.denominator))
