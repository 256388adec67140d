"""The protocol of transfer: what one import run read, accepted, rejected and wrote,
with control totals and the file's checksum, as JSON and as CSV (kept with the run in
the database, so it can be downloaded at any time after)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from switch.db.database import Database
from switch.db.rows import json_ready

REJECTIONS_SHOWN = 1_000  # in the JSON form; the CSV form has every one
PAGE = 10_000


async def protocol(db: Database, run_id: int) -> dict[str, Any] | None:
    run = await db.fetchrow("SELECT * FROM import_runs WHERE id = $1", run_id)
    if run is None:
        return None
    r = json_ready(run)
    shown = await db.fetch(
        """SELECT line, column_name, reason FROM import_rejections WHERE run_id = $1
            ORDER BY line, column_name LIMIT $2""",
        run_id,
        REJECTIONS_SHOWN,
    )
    return {
        "run": r["id"],
        "entity": r["entity"],
        "state": r["state"],
        "refusal": r["refusal"],
        "dry_run": r["dry_run"],
        "file": {"name": r["file_name"], "sha256": r["file_sha256"], "bytes": r["file_bytes"]},
        "mapping": json.loads(r["mapping"]) if isinstance(r["mapping"], str) else r["mapping"],
        "rows": {
            "read": r["rows_read"],
            "accepted": r["written"],
            "already_present": r["present"],
            "rejected": r["rejected"],
            "not_yet_written": max(
                0, r["rows_valid"] - r["written"] - r["present"] - _write_rejections(r)
            ),
        },
        "control": {
            "declared_count": r["control_count"],
            "declared_paise": r["control_paise"],
            "file_count": r["rows_read"],
            "file_paise": r["file_paise"],
            "written_count": r["written"],
            "written_paise": r["written_paise"],
        },
        "position": r["position"],
        "started_by": r["started_by"],
        "started_at": r["started_at"],
        "finished_at": r["finished_at"],
        "rejections": [
            {"line": x["line"], "column": x["column_name"], "reason": x["reason"]} for x in shown
        ],
        "rejections_shown": len(shown),
    }


def _write_rejections(r: dict[str, Any]) -> int:
    return int(r["rejected"]) - (int(r["rows_read"]) - int(r["rows_valid"]))


async def protocol_csv(db: Database, run_id: int) -> AsyncIterator[str]:
    """The same, as CSV: the figures, a blank line, then every rejected row."""
    p = await protocol(db, run_id)
    if p is None:
        return
    out = io.StringIO()
    w = csv.writer(out)
    for section in ("file", "rows", "control"):
        for key, value in p[section].items():
            w.writerow([f"{section}.{key}", "" if value is None else value])
    for key in ("run", "entity", "state", "refusal", "dry_run", "started_by", "started_at",
                "finished_at"):  # fmt: skip
        w.writerow([key, "" if p[key] is None else p[key]])
    w.writerow([])
    w.writerow(["line", "column", "reason"])
    yield out.getvalue()
    after = (-1, "")
    while True:
        rows = await db.fetch(
            """SELECT line, column_name, reason FROM import_rejections
                WHERE run_id = $1 AND (line, column_name) > ($2, $3)
                ORDER BY line, column_name LIMIT $4""",
            run_id,
            after[0],
            after[1],
            PAGE,
        )
        if not rows:
            return
        out = io.StringIO()
        w = csv.writer(out)
        for x in rows:
            w.writerow([x["line"], x["column_name"], x["reason"]])
        yield out.getvalue()
        after = (rows[-1]["line"], rows[-1]["column_name"])
