"""Months of history, and the ids that say them.

Pays, ledger transfers and SMS messages are kept one partition per month (India
time). A row's id says its month: 202612000004217 was made in December 2026, as
``history_next_id`` in the database makes it (base = YYYYMM * 10^9, plus a sequence
number below 10^9). Rows made before the tables were partitioned keep their small
ids and live in one ``<table>_legacy`` partition each.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
ID_PER_MONTH = 1_000_000_000
TABLES = ("pays", "transfers", "sms_outbox")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> dt.date:
    """'2026-10' -> 2026-10-01; anything else is a ValueError saying what is wanted."""
    m = _MONTH.match(text.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month: write YYYY-MM, e.g. 2026-10")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def month_name(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_base(month: dt.date) -> int:
    """The first id of ``month``."""
    return (month.year * 100 + month.month) * ID_PER_MONTH


def month_of_id(row_id: int) -> dt.date | None:
    """The month an id was made in; None for an id made before partitioning."""
    yyyymm = row_id // ID_PER_MONTH
    year, month = divmod(yyyymm, 100)
    if year < 2000 or not 1 <= month <= 12:
        return None
    return dt.date(year, month, 1)


def this_month(now: dt.datetime | None = None) -> dt.date:
    """The current month in India time."""
    t = (now or dt.datetime.now(dt.UTC)).astimezone(IST)
    return dt.date(t.year, t.month, 1)
