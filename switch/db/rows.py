"""Rows as JSON-ready values: what the admin API answers, the audit log records and
the CLI prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg


def json_ready(row: asyncpg.Record | Mapping[str, Any] | None) -> dict[str, Any]:
    """Times and dates as ISO 8601; bytes dropped (keys and digests are not shown)."""
    if row is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if isinstance(value, dt.date | dt.datetime):
            out[key] = value.isoformat()
        elif not isinstance(value, bytes | bytearray | memoryview):
            out[key] = value
    return out
