"""A discom's bill file (CSV or XLSX) read into bills, for billers without an API.

One row per bill. Columns (amounts in rupees, ``1,234.50``; dates ``DD-MM-YYYY`` or
as declared; readings and units whole kWh):

| column | required | is |
|---|---|---|
| site_code, bill_no, bill_date, due_date, units, current_amount | yes | the bill |
| omr, cmr | for SBV | opening and closing meter readings (blank: a faulty meter) |
| multiplying_factor, billing_type, meter_status, billing_days | no | the meter and period |
| arrears, taxes, meter_rent, surcharge, tcs | no | the rest (blank: 0; arrears may be negative) |
| fuel_paise_per_unit, recorded_demand_kva | no | dynamic tariff parameters |
| h1_units, h1_amount, h1_cmr ... h6_* | no | the last six months as printed, newest first |

A file is taken whole or not at all: any bad row (an unknown site, a negative amount,
a date that is not one, a reading that is not a number) refuses the file, with every
bad row's line, column and reason. Nothing is half taken in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from switch.bulk.bills import BILLING_TYPES, Bill, Month
from switch.imports import fields, sources
from switch.imports.fields import FieldError

REQUIRED = ("site_code", "bill_no", "bill_date", "due_date", "units", "current_amount")
MONEY = ("arrears", "taxes", "meter_rent", "surcharge", "tcs")
HISTORY_MONTHS = 6
MAX_ROWS = 200_000  # a month of an organisation's bills, with room


@dataclass(frozen=True)
class Rejection:
    line: int
    column: str
    reason: str


class FileRefused(Exception):
    def __init__(self, message: str, rejections: list[Rejection]) -> None:
        super().__init__(message)
        self.rejections = rejections


def read_file(
    path: Path, sites: frozenset[str], date_format: str = "DD-MM-YYYY", encoding: str = "utf-8"
) -> list[tuple[int, Bill]]:
    """Every bill of the file with its line, or ``FileRefused`` with every bad row."""
    try:
        header = sources.header_of(path, encoding)
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise FileRefused(f"the file has no column {', '.join(missing)}", [])
        bills: list[tuple[int, Bill]] = []
        bad: list[Rejection] = []
        strftime = fields.DATE_FORMATS[date_format]
        for line, row in sources.rows(path, encoding, strftime):
            if len(bills) + len(bad) >= MAX_ROWS:
                raise FileRefused(f"more than {MAX_ROWS} rows: split the file", bad)
            try:
                bill = parse_row(row, date_format)
            except FieldError as exc:
                bad.append(Rejection(line, exc.column, exc.reason))
                continue
            if bill.site_id not in sites:
                bad.append(Rejection(line, "site_code", f"no site {bill.site_id!r} registered"))
                continue
            bills.append((line, bill))
    except sources.SourceError as exc:
        raise FileRefused(str(exc), []) from None
    if bad:
        raise FileRefused(f"{len(bad)} rows cannot be taken in; nothing was", bad)
    return bills


def parse_row(row: dict[str, str], date_format: str) -> Bill:
    def money(column: str, *, signed: bool = False) -> int:
        raw = row.get(column, "").strip()
        if not raw:
            return 0
        negative = signed and raw.startswith("-")
        if raw.startswith("-") and not signed:
            raise FieldError(column, f"a negative amount: {raw!r}")
        amount = fields.paise(column, raw.removeprefix("-"), "rupees", allow_zero=True)
        return -amount if negative else amount

    units = _whole(row, "units", required=True)
    assert units is not None
    # A date, or a spreadsheet's date cell (a date at midnight).
    bill_date = fields.moment("bill_date", row.get("bill_date"), date_format).date()
    due_date = fields.moment("due_date", row.get("due_date"), date_format).date()
    if due_date < bill_date:
        raise FieldError("due_date", "before the bill's date")
    billing_type = (row.get("billing_type") or "normal").strip().lower()
    if billing_type not in BILLING_TYPES:
        raise FieldError("billing_type", f"one of {', '.join(BILLING_TYPES)}")
    dynamic = {
        name: _decimal(row, name)
        for name in ("fuel_paise_per_unit", "recorded_demand_kva")
        if row.get(name, "").strip()
    }
    return Bill(
        site_id=fields.text("site_code", row.get("site_code"), max_len=40),
        bill_no=fields.text("bill_no", row.get("bill_no"), max_len=40),
        bill_date=bill_date,
        due_date=due_date,
        units=units,
        current_paise=money("current_amount"),
        omr=_whole(row, "omr"),
        cmr=_whole(row, "cmr"),
        multiplying_factor=_whole(row, "multiplying_factor") or 1,
        billing_type=billing_type,
        meter_status=(row.get("meter_status") or "ok").strip()[:40],
        arrears_paise=money("arrears", signed=True),
        taxes_paise=money("taxes"),
        meter_rent_paise=money("meter_rent"),
        surcharge_paise=money("surcharge"),
        tcs_paise=money("tcs"),
        billing_days=_whole(row, "billing_days") or None,
        dynamic=dynamic,
        history=tuple(_history(row)),
    )


def _history(row: dict[str, str]) -> list[Month]:
    months = []
    for n in range(1, HISTORY_MONTHS + 1):
        units = _whole(row, f"h{n}_units")
        if units is None:
            break
        raw = row.get(f"h{n}_amount", "").strip()
        if not raw:
            raise FieldError(f"h{n}_amount", "missing (the month's units are given)")
        amount = fields.paise(f"h{n}_amount", raw, "rupees", allow_zero=True)
        months.append(Month(units, amount, _whole(row, f"h{n}_cmr")))
    return months


def _whole(row: dict[str, str], column: str, *, required: bool = False) -> int | None:
    raw = row.get(column, "").strip().replace(",", "")
    if not raw:
        if required:
            raise FieldError(column, "missing")
        return None
    if not raw.isdigit() or not raw.isascii():
        raise FieldError(column, f"not a whole number: {raw!r}")
    if len(raw) > 12:
        raise FieldError(column, "beyond any reading")
    return int(raw)


def _decimal(row: dict[str, str], column: str) -> Decimal:
    raw = row.get(column, "").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FieldError(column, f"not a number: {raw!r}") from None
    if not value.is_finite() or value < 0 or value > 10**6:
        raise FieldError(column, f"not a plausible value: {raw!r}")
    return value
