"""Business days, cut-offs and settlement windows: pure functions of time, no I/O.

Rules (docs/settlement.md):

* A business day is a day that is not a Saturday, a Sunday or a listed holiday.
* Each business day D has one settlement window per biller. It ends at D's cut-off
  (local time, India Standard Time) and starts where the previous business day's
  window ended, so windows tile time with no gap and no overlap.
* A pay belongs to the window of ``business_date(created_at)``: its local date if it
  was made before that day's cut-off, else the next day; moved on to the next business
  day while that is a weekend day or a holiday. So a pay at 20:05 on a Friday, on
  Saturday, or on a holiday Monday all fall into the next business day's window.

``window(D)`` and ``business_date(t)`` agree by construction: t lies in window(D) if
and only if business_date(t) is D (a test checks this over random instants).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")  # no daylight saving in India
WEEKEND = frozenset({5, 6})  # Saturday, Sunday (date.weekday())
MAX_SKIP_DAYS = 31  # no run of non-business days is longer: a bound, and a data check
DEFAULT_HOLIDAYS = "uttar-pradesh-2026.toml"


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    business_date: dt.date
    starts_at: dt.datetime  # inclusive
    ends_at: dt.datetime  # exclusive: the cut-off

    def contains(self, t: dt.datetime) -> bool:
        return self.starts_at <= t < self.ends_at


@dataclass(frozen=True)
class Calendar:
    cutoff: dt.time = dt.time(20, 0)
    holidays: frozenset[dt.date] = frozenset()
    weekend: frozenset[int] = WEEKEND
    names: dict[dt.date, str] = field(default_factory=dict, compare=False)

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after ``day``."""
        return self._roll(day + dt.timedelta(days=1), +1)

    def previous_business_day(self, day: dt.date) -> dt.date:
        """The last business day strictly before ``day``."""
        return self._roll(day - dt.timedelta(days=1), -1)

    def business_date(self, t: dt.datetime) -> dt.date:
        """The business date whose window holds the instant ``t`` (aware datetime)."""
        if t.tzinfo is None:
            raise CalendarError("business_date needs an aware datetime")
        local = t.astimezone(IST)
        day = local.date()
        if local.time() >= self.cutoff:
            day += dt.timedelta(days=1)
        return self._roll(day, +1)

    def window(self, day: dt.date) -> Window:
        """The settlement window of business day ``day``."""
        if not self.is_business_day(day):
            raise CalendarError(f"{day} is not a business day ({self.why_not(day)})")
        previous = self.previous_business_day(day)
        return Window(day, self._cutoff_at(previous), self._cutoff_at(day))

    def why_not(self, day: dt.date) -> str:
        if day in self.holidays:
            return self.names.get(day, "holiday")
        return day.strftime("%A") if day.weekday() in self.weekend else "business day"

    def _cutoff_at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.cutoff, tzinfo=IST)

    def _roll(self, day: dt.date, step: int) -> dt.date:
        for _ in range(MAX_SKIP_DAYS):
            if self.is_business_day(day):
                return day
            day += dt.timedelta(days=step)
        raise CalendarError(f"no business day within {MAX_SKIP_DAYS} days of {day}")


def parse_cutoff(text: str) -> dt.time:
    """'20:00' or '20:00:30' (IST)."""
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"cut-off must be HH:MM or HH:MM:SS, got {text!r}") from exc


def load_holidays(path: str | Path | None = None) -> dict[dt.date, str]:
    """Holidays from a TOML file (``holidays = [{date = 2026-01-26, name = "..."}]``);
    no path: the Uttar Pradesh example shipped with the switch."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    else:
        text = (
            resources.files("switch.settlement").joinpath("holidays", DEFAULT_HOLIDAYS).read_text()
        )
        where = DEFAULT_HOLIDAYS
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{where}: {exc}") from exc
    return _holiday_entries(doc.get("holidays", []), where)


def _holiday_entries(entries: Iterable[object], where: str) -> dict[dt.date, str]:
    holidays: dict[dt.date, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("date"), dt.date):
            raise CalendarError(f"{where}: each holiday needs a date (YYYY-MM-DD): {entry!r}")
        holidays[entry["date"]] = str(entry.get("name", "holiday"))
    return holidays


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekend(text: str) -> frozenset[int]:
    """'sat,sun' -> {5, 6}; '' -> no weekly day off."""
    days = [d.strip().lower()[:3] for d in text.split(",") if d.strip()]
    unknown = [d for d in days if d not in DAY_NAMES]
    if unknown:
        raise CalendarError(f"weekend days must be among {', '.join(DAY_NAMES)}; got {unknown}")
    if len(set(days)) == len(DAY_NAMES):
        raise CalendarError("a week needs at least one business day")
    return frozenset(DAY_NAMES.index(d) for d in days)


def calendar_from(cutoff: str, holidays_file: str = "", weekend: str = "sat,sun") -> Calendar:
    names = load_holidays(holidays_file or None)
    return Calendar(parse_cutoff(cutoff), frozenset(names), parse_weekend(weekend), names)
