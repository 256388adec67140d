"""``/office/audit``: the audit log, filtered as the API filters it, and as CSV."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from switch.admin.audit_routes import audit_entries
from switch.admin.common import deps_of
from switch.settlement.reports import as_csv
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 100
MAX_CSV_ROWS = 10_000
FILTERS = (("object_kind", 40), ("object_id", 80), ("actor", 40))


def _filters(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {name: (q.get(name, "").strip()[:limit] or None) for name, limit in FILTERS}


@router.get("/audit")
async def audit_log(request: Request) -> Response:
    who = await staff(request, "audit.read")
    f = _filters(request)
    after = request.query_params.get("after", "")
    rows = await audit_entries(
        deps_of(request).db,
        f["object_kind"],
        f["object_id"],
        f["actor"],
        PAGE_ROWS + 1,
        int(after) if after.isdigit() else 0,
    )
    query = "&".join(f"{k}={v}" for k, v in f.items() if v)
    return page(
        request,
        "office/audit.html",
        who,
        rows=rows[:PAGE_ROWS],
        f=f,
        query=query,
        next=rows[PAGE_ROWS - 1]["id"] if len(rows) > PAGE_ROWS else None,
    )


@router.get("/audit.csv")
async def audit_csv(request: Request) -> Response:
    await staff(request, "audit.read")
    f = _filters(request)
    rows = await audit_entries(
        deps_of(request).db, f["object_kind"], f["object_id"], f["actor"], MAX_CSV_ROWS, 0
    )
    flat: list[dict[str, Any]] = [
        {**r, "before": json.dumps(r["before"]), "after": json.dumps(r["after"])} for r in rows
    ]
    return Response(
        as_csv(flat),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
