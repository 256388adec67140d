"""Logs: plain text for a person at a terminal, or one JSON object per line for a log
pipeline (``[ops] log_format = "json"``).

A line about a pay carries its switch txn id, terminal and biller as fields
(``extra=pay_fields(pay)``), so one ``txn`` search finds a pay's whole story across
recovery, reversal and reconciliation. JSON formatting is python-json-logger's
(well kept, stdlib ``logging`` underneath) rather than our own.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Protocol

from pythonjsonlogger.json import JsonFormatter

PAY_FIELDS = ("txn", "terminal", "biller")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _PayLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def terminal_id(self) -> str: ...
    @property
    def biller_id(self) -> str: ...


def pay_fields(pay: _PayLike) -> dict[str, Any]:
    return {"txn": pay.id, "terminal": pay.terminal_id, "biller": pay.biller_id}


class TextFormatter(logging.Formatter):
    """The message, then ``txn=... terminal=...`` when the line is about a pay."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{k}={getattr(record, k)}" for k in PAY_FIELDS if hasattr(record, k)]
        return f"{line} {' '.join(fields)}" if fields else line


def setup_logging(log_format: str = "text", level: str = "INFO") -> None:
    if log_format not in ("text", "json"):
        raise ValueError(f"log_format must be text or json, got {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                TEXT_FORMAT,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)
