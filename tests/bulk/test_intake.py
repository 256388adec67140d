"""A discom's bill file read into bills (CSV and XLSX): every figure where the checks
expect it, and each kind of bad row named by its line and column, refusing the file."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from switch.bulk import intake

HEADER = ["site_code", "bill_no", "bill_date", "due_date", "omr", "cmr", "units",
          "current_amount", "arrears", "taxes", "meter_rent", "billing_days",
          "fuel_paise_per_unit", "h1_units", "h1_amount", "h1_cmr", "h2_units",
          "h2_amount"]  # fmt: skip
GOOD = ["EXC-1", "UP/7788", "01-11-2026", "21-11-2026", "1,200", "1,600", "400",
        "3,512.50", "-150.00", "210", "25", "30", "35.5", "380", "3,300.00", "1200",
        "410", "3,550"]  # fmt: skip
SITES = frozenset({"EXC-1", "EXC-2"})


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def test_a_bill_file_reads_every_figure(tmp_path: Path) -> None:
    [(line, bill)] = intake.read_file(write_csv(tmp_path / "b.csv", [GOOD]), SITES)
    assert line == 2 and bill.site_id == "EXC-1" and bill.bill_no == "UP/7788"
    assert (bill.bill_date, bill.due_date) == (dt.date(2026, 11, 1), dt.date(2026, 11, 21))
    assert (bill.omr, bill.cmr, bill.units) == (1200, 1600, 400)
    assert bill.current_paise == 351_250 and bill.arrears_paise == -15_000  # a credit
    assert (bill.taxes_paise, bill.meter_rent_paise, bill.billing_days) == (21_000, 2500, 30)
    assert str(bill.dynamic["fuel_paise_per_unit"]) == "35.5"
    assert [(m.units, m.current_paise, m.cmr) for m in bill.history] == [
        (380, 330_000, 1200), (410, 355_000, None)]  # fmt: skip
    assert bill.gross_paise == 351_250 + 2500 + 21_000 - 15_000


def test_an_xlsx_workbook_reads_the_same(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    row: list[object] = list(GOOD)
    row[2], row[3] = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 21)  # date cells
    sheet.append(row)
    book.save(tmp_path / "b.xlsx")
    [(_, from_xlsx)] = intake.read_file(tmp_path / "b.xlsx", SITES)
    [(_, from_csv)] = intake.read_file(write_csv(tmp_path / "b.csv", [GOOD]), SITES)
    assert from_xlsx == from_csv


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("site_code", "TWR-9", "no site 'TWR-9' registered"),
        ("current_amount", "-12.00", "a negative amount"),
        ("taxes", "12.345", "not rupees"),
        ("bill_date", "31-02-2026", "not a date"),
        ("due_date", "01-10-2026", "before the bill's date"),
        ("cmr", "16OO", "not a whole number"),
        ("units", "", "missing"),
        ("h2_amount", "", "missing (the month's units are given)"),
        ("fuel_paise_per_unit", "lots", "not a number"),
    ],
)
def test_one_bad_row_refuses_the_file_and_names_itself(
    tmp_path: Path, column: str, value: str, says: str
) -> None:
    bad = list(GOOD)
    bad[HEADER.index(column)] = value
    other = ["EXC-2", *GOOD[1:]]
    with pytest.raises(intake.FileRefused) as refused:
        intake.read_file(write_csv(tmp_path / "b.csv", [other, bad]), SITES)
    [rejection] = refused.value.rejections
    assert (rejection.line, rejection.column) == (3, column)
    assert says in rejection.reason and "nothing was" in str(refused.value)


def test_a_file_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("site_code,bill_no\nEXC-1,1\n")
    with pytest.raises(intake.FileRefused, match="no column bill_date, due_date"):
        intake.read_file(path, SITES)
