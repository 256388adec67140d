"""``/office/settlement``: each biller's settled and closed windows, with the file of
each settled one (checked against the digest it was settled with, as the API does)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from switch.admin.common import deps_of
from switch.admin.settlement import settlement_windows, window_file_response
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 50


@router.get("/settlement")
async def windows(request: Request) -> Response:
    who = await staff(request, "settlement.read")
    q = request.query_params
    biller = q.get("biller_id", "").strip()[:40] or None
    before = q.get("before", "")
    rows = await settlement_windows(
        deps_of(request).db,
        biller,
        None,
        None,
        None,
        PAGE_ROWS + 1,
        int(before) if before.isdigit() else None,
    )
    return page(
        request,
        "office/settlement.html",
        who,
        rows=rows[:PAGE_ROWS],
        biller=biller or "",
        next=rows[PAGE_ROWS - 1]["id"] if len(rows) > PAGE_ROWS else None,
        billers=[b.id for b in deps_of(request).cfg.billers],
    )


@router.get("/settlement/{window_id}/file")
async def window_file(request: Request, window_id: int) -> Response:
    await staff(request, "settlement.read")
    return await window_file_response(deps_of(request).db, window_id)
