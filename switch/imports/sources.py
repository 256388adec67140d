"""Reading a legacy file as rows, streamed: CSV (UTF-8, with or without a byte-order
mark, or Windows-1252) and XLSX (openpyxl's read-only mode). Neither holds more than
one row in memory, so a file of a million rows costs what a row costs.

Each row is ``(line, {column: text})``: its line in the file (the header is line 1;
a quoted CSV field spanning lines counts from where its row begins), and every cell as
text, stripped. A row that is entirely empty is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

ENCODINGS = ("utf-8", "cp1252")
MAX_FIELD_CHARS = 10_000


class SourceError(Exception):
    """The file cannot be read as the mapping says (its format, encoding or header)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def size_of(path: Path) -> int:
    return path.stat().st_size


def header_of(path: Path, encoding: str) -> list[str]:
    for _, header, _ in _open(path, encoding, "%d-%m-%Y"):
        return header
    raise SourceError(f"{path.name}: no header row")


def rows(
    path: Path, encoding: str, date_format: str = "%d-%m-%Y"
) -> Iterator[tuple[int, dict[str, str]]]:
    """``date_format``: how an XLSX date cell is written as text (the mapping's)."""
    for _, header, data in _open(path, encoding, date_format):
        for line, values in data:
            if not any(values):
                continue
            if len(values) > len(header) and any(values[len(header) :]):
                raise SourceError(f"line {line}: more cells than the header has columns")
            yield line, dict(zip(header, values, strict=False))


def _open(
    path: Path, encoding: str, date_format: str
) -> Iterator[tuple[int, list[str], Iterator[tuple[int, list[str]]]]]:
    if path.suffix.lower() == ".xlsx":
        yield from _xlsx(path, date_format)
    elif path.suffix.lower() in (".csv", ".txt"):
        yield from _csv(path, encoding)
    else:
        raise SourceError(f"{path.name}: CSV or XLSX files only")


def _csv(
    path: Path, encoding: str
) -> Iterator[tuple[int, list[str], Iterator[tuple[int, list[str]]]]]:
    if encoding not in ENCODINGS:
        raise SourceError(f"encoding: one of {', '.join(ENCODINGS)}")
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    csv.field_size_limit(MAX_FIELD_CHARS)
    with path.open(encoding=codec, newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise SourceError(f"{path.name}: empty") from None
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path.name}: not {encoding} text ({exc.reason})") from exc
        yield 1, header, _csv_rows(reader, f, encoding)


def _csv_rows(reader: Any, f: IO[str], encoding: str) -> Iterator[tuple[int, list[str]]]:
    line = reader.line_num + 1
    try:
        for values in reader:
            yield line, [v.strip() for v in values]
            line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise SourceError(f"line {line}: not {encoding} text ({exc.reason})") from exc
    except csv.Error as exc:
        raise SourceError(f"line {line}: {exc}") from exc


def _xlsx(
    path: Path, date_format: str
) -> Iterator[tuple[int, list[str], Iterator[tuple[int, list[str]]]]]:
    import openpyxl  # only for XLSX files

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
        raise SourceError(f"{path.name}: not an XLSX workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        first = next(it, None)
        if first is None:
            raise SourceError(f"{path.name}: empty")
        header = [_cell(v, date_format) for v in first]
        cells = ((n, [_cell(v, date_format) for v in r]) for n, r in enumerate(it, start=2))
        yield 1, header, cells
    finally:
        book.close()


def _cell(value: Any, date_format: str) -> str:
    """A cell as the text a CSV export of it would hold (dates in ``date_format``)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(f"{date_format} %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime(date_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
