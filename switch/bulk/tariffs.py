"""Tariffs: what a bill of one discom's category should come to, recomputed from its
parameters, for the tariff check (OBV).

A tariff is data (``tariffs/*.toml``, or a file of the operator's own), one table per
discom and category, with three kinds of parameters:

| kind | where from | examples |
|---|---|---|
| permanent (A) | the site and the tariff | sanctioned load (kW), rates, duty, meter rent |
| dynamic (B) | the bill | units, billing days, a fuel adjustment rate, recorded demand |
| calculated (C) | here | energy, fixed or demand, fuel and duty charges; the gross |

The rules of the calculation, each line rounded half up to the paisa:

1. **Energy** by slabs of units per 30 days. A slab's upper bound scales with the
   billing days (a 60-day bill's first slab holds twice the units), and the last slab
   has no bound.
2. **Fixed** = sanctioned load (kW) x rate per kW per month x days / 30. A demand
   tariff charges per kVA of billing demand instead: the larger of the recorded
   demand and ``demand_floor_percent`` of the contract demand.
3. **Fuel** = units x the bill's fuel adjustment rate, where the tariff has one.
4. **Duty** = ``duty_percent`` of energy + fixed + fuel.
5. **Meter rent** = rate per month x days / 30.
6. **Tariff gross** = energy + fixed + fuel + duty + meter rent: compared with the
   discom's current amount + meter rent + taxes.

A bill lacking a dynamic parameter its tariff needs, or of a category with no tariff,
is not recomputed: the tariff check is skipped, and says why.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from switch.bulk.bills import Bill, half_up

SHIPPED = Path(__file__).parent / "tariffs"
DYNAMIC = ("units", "billing_days", "fuel_paise_per_unit", "recorded_demand_kva")


class TariffError(ValueError):
    """A tariff file that cannot be used (named, with the entry and why)."""


@dataclass(frozen=True)
class Slab:
    up_to_units: int | None  # per 30 days; None: every unit above the last bound
    paise_per_unit: Fraction


@dataclass(frozen=True)
class Tariff:
    biller: str
    category: str
    name: str
    slabs: tuple[Slab, ...]
    fixed_paise_per_kw_month: Fraction = Fraction(0)
    demand_paise_per_kva_month: Fraction = Fraction(0)  # a demand (HT) tariff
    demand_floor_percent: Fraction = Fraction(0)
    duty_percent: Fraction = Fraction(0)
    meter_rent_paise_per_month: Fraction = Fraction(0)
    needs: tuple[str, ...] = ("units", "billing_days")  # the bill's dynamic parameters

    @property
    def key(self) -> tuple[str, str]:
        return self.biller, self.category


@dataclass(frozen=True)
class Site:
    """What the calculation needs of the site (its permanent parameters)."""

    sanctioned_load_kw: Decimal = Decimal(0)
    contract_demand_kva: Decimal = Decimal(0)


@dataclass(frozen=True)
class Calculation:
    energy_paise: int
    fixed_paise: int
    fuel_paise: int
    duty_paise: int
    meter_rent_paise: int

    @property
    def gross_paise(self) -> int:
        return (
            self.energy_paise
            + self.fixed_paise
            + self.fuel_paise
            + self.duty_paise
            + self.meter_rent_paise
        )


def missing(tariff: Tariff, bill: Bill) -> list[str]:
    """The dynamic parameters this tariff needs that the bill does not carry."""
    have = {"units": bill.units is not None, "billing_days": bool(bill.billing_days)}
    return [n for n in tariff.needs if not have.get(n, n in bill.dynamic)]


def calculate(tariff: Tariff, site: Site, bill: Bill) -> Calculation:
    """Rules 1-5 (the caller has checked ``missing`` is empty), in exact integers: each
    line's amount is a numerator over a denominator, rounded half up once."""
    days = bill.billing_days or 30
    energy = _energy(tariff, bill.units, days)
    load, rate = Fraction(site.sanctioned_load_kw), tariff.fixed_paise_per_kw_month
    fixed = Fraction(
        load.numerator * rate.numerator * days, load.denominator * rate.denominator * 30
    )
    if tariff.demand_paise_per_kva_month:  # a demand (HT) tariff: the rarer, slower way
        recorded = Fraction(bill.dynamic.get("recorded_demand_kva", Decimal(0)))
        floor = Fraction(site.contract_demand_kva) * tariff.demand_floor_percent / 100
        fixed += max(recorded, floor) * tariff.demand_paise_per_kva_month * days / 30
    fuel_rate = Fraction(bill.dynamic.get("fuel_paise_per_unit", Decimal(0)))
    energy_p = half_up(energy.numerator, energy.denominator)
    fixed_p = half_up(fixed.numerator, fixed.denominator)
    fuel_p = half_up(bill.units * fuel_rate.numerator, fuel_rate.denominator)
    duty = tariff.duty_percent
    duty_p = half_up((energy_p + fixed_p + fuel_p) * duty.numerator, 100 * duty.denominator)
    rent = tariff.meter_rent_paise_per_month
    rent_p = half_up(rent.numerator * days, rent.denominator * 30)
    return Calculation(energy_p, fixed_p, fuel_p, duty_p, rent_p)


def _energy(tariff: Tariff, units: int, days: int) -> Fraction:
    """Slab by slab, in thirtieths of a unit (a slab's bound scales with the days)."""
    total_num, total_den = 0, 1
    used = 0  # thirtieths of a unit already in lower slabs
    units30 = units * 30
    for slab in tariff.slabs:
        top = units30 if slab.up_to_units is None else min(units30, slab.up_to_units * days)
        if top <= used:
            break
        rate = slab.paise_per_unit
        num, den = (top - used) * rate.numerator, 30 * rate.denominator
        total_num, total_den = total_num * den + num * total_den, total_den * den
        used = top
    return Fraction(total_num, total_den)


# -- the files ----------------------------------------------------------------------


def load(paths: list[Path] | None = None) -> dict[tuple[str, str], Tariff]:
    """Every tariff of the files (the shipped ones by default), by (biller, category)."""
    found: dict[tuple[str, str], Tariff] = {}
    for path in paths if paths is not None else sorted(SHIPPED.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TariffError(f"{path}: {exc}") from None
        for n, entry in enumerate(data.get("tariff", []), start=1):
            tariff = _tariff(entry, f"{path.name} tariff {n}")
            if tariff.key in found:
                raise TariffError(f"{path.name} tariff {n}: {tariff.key} is given twice")
            found[tariff.key] = tariff
    return found


def _tariff(e: dict[str, Any], where: str) -> Tariff:
    try:
        slabs = tuple(_slab(s) for s in e["energy_slabs"])
        tariff = Tariff(
            biller=str(e["biller"]),
            category=str(e["category"]),
            name=str(e["name"]),
            slabs=slabs,
            fixed_paise_per_kw_month=_rate(e.get("fixed_paise_per_kw_month", 0)),
            demand_paise_per_kva_month=_rate(e.get("demand_paise_per_kva_month", 0)),
            demand_floor_percent=_rate(e.get("demand_floor_percent", 0)),
            duty_percent=_rate(e.get("duty_percent", 0)),
            meter_rent_paise_per_month=_rate(e.get("meter_rent_paise_per_month", 0)),
            needs=tuple(e.get("needs", ("units", "billing_days"))),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise TariffError(f"{where}: {exc!r}") from None
    unknown = [n for n in tariff.needs if n not in DYNAMIC]
    if unknown:
        raise TariffError(f"{where}: unknown dynamic parameter {unknown[0]!r}")
    bounds = [s.up_to_units for s in slabs]
    if not slabs or bounds[-1] is not None or None in bounds[:-1]:
        raise TariffError(f"{where}: slabs rise to a last one without a bound")
    if any(b <= a for a, b in itertools.pairwise(bounds[:-1])):  # type: ignore[operator]
        raise TariffError(f"{where}: slab bounds must rise")
    return tariff


def _slab(raw: dict[str, Any]) -> Slab:
    up_to = raw.get("up_to_units")
    if up_to is not None and (not isinstance(up_to, int) or up_to <= 0):
        raise ValueError(f"up_to_units {up_to!r}")
    return Slab(up_to, _rate(raw["paise_per_unit"]))


def _rate(value: Any) -> Fraction:
    """A rate from TOML: an integer or a decimal string (never a float: "7.5")."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"write {value!r} as an integer or a quoted decimal")
    rate = Fraction(Decimal(str(value)))
    if rate < 0:
        raise ValueError(f"negative rate {value!r}")
    return rate
