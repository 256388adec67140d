"""A legacy file's dates read exactly as ``strptime`` reads their declared format
(the importer reads them with patterns, several times faster)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from switch.imports import fields

PARTS = st.tuples(
    st.integers(0, 40), st.integers(0, 14), st.sampled_from([1, 999, 1990, 2024, 2026, 9999])
)
SHAPES = st.sampled_from(["{d:02d}-{m:02d}-{y:04d}", "{d}-{m}-{y}", "{d:02d}/{m:02d}/{y:04d}",
                          "{y:04d}-{m:02d}-{d:02d}", "{y}-{m}-{d}", " {d:02d}-{m:02d}-{y:04d} ",
                          "{d:02d}-{m:02d}-{y:04d}x", "{d:02d}{m:02d}{y:04d}"])  # fmt: skip


def _strptime(value: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip(), fields.DATE_FORMATS[fmt]).date()
    except ValueError:
        return None


def _ours(value: str, fmt: str) -> dt.date | None:
    try:
        return fields.date("paid_at", value, fmt)
    except fields.FieldError as exc:
        assert exc.reason == f"not a date as {fmt}: {value.strip()!r}"
        return None


@settings(max_examples=400, deadline=None)
@given(parts=PARTS, shape=SHAPES)
def test_every_declared_format_reads_as_strptime_does(
    parts: tuple[int, int, int], shape: str
) -> None:
    d, m, y = parts
    value = shape.format(d=d, m=m, y=y)
    for fmt in fields.DATE_FORMATS:
        assert _ours(value, fmt) == _strptime(value, fmt), (value, fmt)


def test_dates_that_do_not_exist_are_refused() -> None:
    assert _ours("29-02-2024", "DD-MM-YYYY") == dt.date(2024, 2, 29)
    for value in ("29-02-2023", "31-04-2026", "00-01-2026", "07-13-2026"):
        assert _ours(value, "DD-MM-YYYY") is None
