"""The values a legacy file holds, read as the switch keeps them: Indian dates and
rupees (or paise) as text, exactly, into dates and integer paise. Each reader raises
``FieldError`` saying what was wanted; nothing is guessed.

| declared | reads | as |
|---|---|---|
| ``DD-MM-YYYY`` | ``07-12-2026`` | 7 December 2026 |
| ``DD/MM/YYYY`` | ``07/12/2026`` | 7 December 2026 |
| ``YYYY-MM-DD`` | ``2026-12-07`` | 7 December 2026 |
| amounts ``rupees`` | ``1,23,456.50``, ``₹ 250``, ``99.5`` | 12345650, 25000, 9950 paise |
| amounts ``paise`` | ``12345650`` | 12345650 paise |

Rupees have at most two decimals (a third is a paisa fraction, refused), never a sign,
and commas anywhere a person might put them (Indian or Western grouping).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

DATE_FORMATS = {"DD-MM-YYYY": "%d-%m-%Y", "DD/MM/YYYY": "%d/%m/%Y", "YYYY-MM-DD": "%Y-%m-%d"}
# The same formats as patterns (day, month, year): strptime took a quarter of a row's
# checks in a bulk import. One or two digits for the day and month, as strptime reads.
_DATE_RES = {
    "DD-MM-YYYY": (re.compile(r"([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})"), (1, 2, 3)),
    "DD/MM/YYYY": (re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})"), (1, 2, 3)),
    "YYYY-MM-DD": (re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"), (3, 2, 1)),
}
AMOUNT_UNITS = ("rupees", "paise")
MAX_PAISE = 10**15  # ₹10 lakh crore: beyond any balance or payment
_RUPEES_RE = re.compile(r"[0-9][0-9,]*(\.[0-9]{1,2})?|\.[0-9]{1,2}")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
_TIME_RE = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")


class FieldError(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


def text(column: str, value: str | None, *, required: bool = True, max_len: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise FieldError(column, "missing")
    if len(value) > max_len:
        raise FieldError(column, f"longer than {max_len} characters")
    if "\x00" in value:
        raise FieldError(column, "holds a NUL character")
    return value


def date(column: str, value: str | None, fmt: str) -> dt.date:
    raw = text(column, value)
    pattern, (day, month, year) = _DATE_RES[fmt]
    m = pattern.fullmatch(raw)
    try:
        if m is None:
            raise ValueError(raw)
        return dt.date(int(m.group(year)), int(m.group(month)), int(m.group(day)))
    except ValueError:
        raise FieldError(column, f"not a date as {fmt}: {raw!r}") from None


def moment(column: str, value: str | None, fmt: str) -> dt.datetime:
    """A date, optionally followed by HH:MM[:SS], in India Standard Time."""
    raw = text(column, value)
    day, _, clock = raw.partition(" ")
    when = date(column, day, fmt)
    hour = minute = second = 0
    if clock.strip():
        m = _TIME_RE.fullmatch(clock.strip())
        if m is None:
            raise FieldError(column, f"not a time HH:MM[:SS]: {clock.strip()!r}")
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise FieldError(column, f"not a time of day: {clock.strip()!r}")
    return dt.datetime(when.year, when.month, when.day, hour, minute, second, tzinfo=IST)


def paise(column: str, value: str | None, unit: str, *, allow_zero: bool = False) -> int:
    raw = text(column, value).replace("₹", "").replace("Rs.", "").replace("Rs", "").strip()
    if unit == "paise":
        if not raw.isdigit():
            raise FieldError(column, f"not a whole number of paise: {raw!r}")
        amount = int(raw)
    else:
        if not _RUPEES_RE.fullmatch(raw):
            raise FieldError(column, f"not rupees (e.g. 1,234.50): {raw!r}")
        try:
            amount = int(Decimal(raw.replace(",", "")) * 100)
        except InvalidOperation:
            raise FieldError(column, f"not rupees (e.g. 1,234.50): {raw!r}") from None
    if amount > MAX_PAISE:
        raise FieldError(column, "beyond any amount the switch takes")
    if amount == 0 and not allow_zero:
        raise FieldError(column, "zero")
    return amount


def choice(column: str, value: str | None, allowed: tuple[str, ...]) -> str:
    raw = text(column, value).lower()
    if raw not in allowed:
        raise FieldError(column, f"one of {', '.join(allowed)}, not {raw!r}")
    return raw
