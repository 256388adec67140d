"""Business days, cut-off and windows (pure): weekends, holidays, pays near the cut-off."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switch.settlement.calendar import (
    IST,
    Calendar,
    CalendarError,
    calendar_from,
    load_holidays,
    parse_cutoff,
)

GURU_NANAK = dt.date(2026, 11, 24)  # a Tuesday holiday in the shipped UP file
UP = calendar_from("20:00")


def ist(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=IST)


def test_a_pay_before_the_cutoff_is_that_days_after_it_the_next_business_days() -> None:
    assert UP.business_date(ist(2026, 11, 19, 19, 59, 59)) == dt.date(2026, 11, 19)  # Thu
    assert UP.business_date(ist(2026, 11, 19, 20, 0, 0)) == dt.date(2026, 11, 20)  # Fri


def test_friday_evening_and_the_weekend_fall_into_monday() -> None:
    monday = dt.date(2026, 11, 23)
    for t in (ist(2026, 11, 20, 20, 1), ist(2026, 11, 21, 12), ist(2026, 11, 22, 23, 59)):
        assert UP.business_date(t) == monday
    window = UP.window(monday)
    assert window.starts_at == ist(2026, 11, 20, 20) and window.ends_at == ist(2026, 11, 23, 20)


def test_a_holiday_is_skipped_like_a_weekend_day() -> None:
    assert GURU_NANAK in UP.holidays and not UP.is_business_day(GURU_NANAK)
    # Monday after the cut-off, and all of the holiday Tuesday: Wednesday's window.
    assert UP.business_date(ist(2026, 11, 23, 21)) == dt.date(2026, 11, 25)
    assert UP.business_date(ist(2026, 11, 24, 10)) == dt.date(2026, 11, 25)
    assert UP.window(dt.date(2026, 11, 25)).starts_at == ist(2026, 11, 23, 20)
    assert UP.previous_business_day(dt.date(2026, 11, 25)) == dt.date(2026, 11, 23)


def test_a_holiday_before_a_weekend_makes_one_long_window() -> None:
    cal = Calendar(holidays=frozenset({dt.date(2026, 11, 27)}))  # a Friday off
    assert cal.business_date(ist(2026, 11, 26, 20, 30)) == dt.date(2026, 11, 30)
    window = cal.window(dt.date(2026, 11, 30))
    assert window.ends_at - window.starts_at == dt.timedelta(days=4)


def test_no_window_for_a_day_that_is_not_a_business_day() -> None:
    with pytest.raises(CalendarError, match="Guru Nanak"):
        UP.window(GURU_NANAK)
    with pytest.raises(CalendarError, match="Saturday"):
        UP.window(dt.date(2026, 11, 21))


def test_naive_times_are_refused() -> None:
    with pytest.raises(CalendarError):
        UP.business_date(dt.datetime(2026, 11, 19, 10))


instants = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2026, 12, 20),
    timezones=st.just(dt.UTC),
)


@given(instants)
def test_every_instant_lies_in_the_window_of_its_business_date(t: dt.datetime) -> None:
    day = UP.business_date(t)
    assert UP.is_business_day(day)
    assert UP.window(day).contains(t)
    # Windows tile time: the next business day's window starts where this one ends.
    assert UP.window(UP.next_business_day(day)).starts_at == UP.window(day).ends_at


def test_the_shipped_calendar_is_uttar_pradesh_2026() -> None:
    holidays = load_holidays()
    assert len(holidays) >= 15 and all(d.year == 2026 for d in holidays)
    assert holidays[dt.date(2026, 1, 26)] == "Republic Day"


def test_a_holiday_file_of_your_own(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text('holidays = [{date = 2027-01-26, name = "Republic Day"}]\n')
    cal = calendar_from("18:30", str(path))
    assert cal.cutoff == dt.time(18, 30) and not cal.is_business_day(dt.date(2027, 1, 26))
    path.write_text('holidays = [{date = "soon"}]\n')
    with pytest.raises(CalendarError, match="date"):
        calendar_from("18:30", str(path))
    path.write_text("holidays = [\n")
    with pytest.raises(CalendarError):
        calendar_from("18:30", str(path))


def test_weekly_days_off_are_configurable() -> None:
    friday_off = calendar_from("20:00", weekend="fri")
    assert friday_off.is_business_day(dt.date(2026, 11, 21))  # a Saturday
    assert not friday_off.is_business_day(dt.date(2026, 11, 20))
    assert calendar_from("20:00", weekend="").is_business_day(dt.date(2026, 11, 22))
    with pytest.raises(CalendarError, match="among"):
        calendar_from("20:00", weekend="caturday")
    with pytest.raises(CalendarError, match="at least one"):
        calendar_from("20:00", weekend="mon,tue,wed,thu,fri,sat,sun")


def test_cutoff_format() -> None:
    assert parse_cutoff("20:00:30") == dt.time(20, 0, 30)
    with pytest.raises(CalendarError, match="HH:MM"):
        parse_cutoff("8pm")
