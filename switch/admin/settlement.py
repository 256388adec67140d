"""/v1/settlement: settlement windows (open, closed, settled), their files, and
closing due windows by hand.

The same operations as ``switch settle status|files|close`` (switch/settlement/). A
window's file is rendered from the database
each time (it is a pure function of the closed window) and checked against the
digest recorded when the window settled, so what is downloaded is what was settled,
whichever switch process wrote the file to disk.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from switch.admin.auth import Principal
from switch.admin.common import MAX_ID, Limit, RowId, deps_of, page
from switch.admin.errors import ApiError
from switch.admin.models import CloseIn
from switch.admin.roles import allow
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.settlement import files, store
from switch.settlement.calendar import CalendarError
from switch.settlement.service import file_content

if TYPE_CHECKING:
    from switch.admin.app import AdminDeps

log = logging.getLogger("switch.admin")
router = APIRouter(prefix="/v1", tags=["settlement"])
BillerId = Annotated[str | None, Query(max_length=40)]


@router.get(
    "/settlement/open",
    summary="Each biller's open window so far, the due windows not yet settled, and "
    "what this process's settlement runs found",
)
async def open_windows(
    request: Request, who: Annotated[Principal, Depends(allow("settlement.read"))]
) -> dict[str, Any]:
    s = deps_of(request).settlement
    now = await s.now()
    stats = s.stats
    return {
        "now": now.isoformat(),
        "billers": [await s.open_window(b.id, now) for b in deps_of(request).cfg.billers],
        "runs": {
            "settled": stats.settled,
            "waiting_on_pays_in_flight": stats.waiting,
            "reconciliations_put_off": stats.recon_waiting,
            "failed": stats.failed,
            "last_error": stats.last_error or None,
        },
    }


@router.get("/settlement/windows", summary="Closed and settled windows, newest first")
async def windows(
    request: Request,
    who: Annotated[Principal, Depends(allow("settlement.read"))],
    biller_id: BillerId = None,
    state: Literal["closed", "settled"] | None = None,
    start: Annotated[dt.date | None, Query(alias="from", description="first business day")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last business day")] = None,
    limit: Limit = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    found = await settlement_windows(
        deps_of(request).db, biller_id, state, start, end, limit + 1, before
    )
    return page(found, limit)


async def settlement_windows(
    db: Database,
    biller_id: str | None,
    state: str | None,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """Windows newest first (the API and the back office's page)."""
    rows = await db.fetch(
        """SELECT * FROM settlement_windows
            WHERE ($1::text IS NULL OR biller_id = $1) AND ($2::text IS NULL OR state = $2)
              AND ($3::date IS NULL OR business_date >= $3)
              AND ($4::date IS NULL OR business_date <= $4)
              AND ($5::bigint IS NULL OR id < $5)
            ORDER BY id DESC LIMIT $6""",
        biller_id,
        state,
        start,
        end,
        before,
        limit,
    )
    return [store.window_row(r).as_dict() for r in rows]


@router.get(
    "/settlement/windows/{window_id}/file",
    summary="The settled window's CSV file (its SHA-256 in X-Checksum-SHA256)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def window_file(
    window_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("settlement.read"))],
) -> Response:
    return await window_file_response(deps_of(request).db, window_id)


async def window_file_response(db: Database, window_id: int) -> Response:
    """A settled window's file, checked against the digest it was settled with."""
    w = await db.run(lambda c: store.by_id(c, window_id))
    if w is None:
        raise ApiError("not_found", f"no settlement window {window_id}")
    if w.state != "settled" or w.file_sha256 is None:
        raise ApiError("invalid_state", f"window {window_id} is {w.state}: no file until settled")
    content = await file_content(db, w)
    digest = files.digest(content)
    if digest != w.file_sha256:
        # The snapshot rows changed after settlement: nothing the caller can fix.
        log.error("settlement window %s renders to %s, settled as %s", w.id, digest, w.file_sha256)
        raise ApiError("internal_error", f"window {window_id}'s file no longer matches its digest")
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{files.file_name(w)}"',
            "X-Checksum-SHA256": digest,
        },
    )


@router.post(
    "/settlement/close",
    summary="Close, file and settle due windows now (every switch process also does it "
    "on its own after each cut-off)",
)
async def close(
    body: CloseIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("settlement.run"))],
) -> dict[str, Any]:
    deps = deps_of(request)
    s = deps.settlement
    chosen = billers_named(deps, body.biller_id)
    try:
        if body.business_date is None:
            done = [w for w in await s.close_due() if w.biller_id in chosen]
        else:
            done = [await s.close(b, body.business_date) for b in chosen]
    except CalendarError as exc:
        raise not_a_business_day(exc) from None
    except store.SettlementError as exc:  # not due yet, pays in flight, ledger refused
        raise ApiError("invalid_state", str(exc)) from None
    windows = [w.as_dict() for w in done]
    # The money moved: who asked for it, in the audit log.
    await deps.db.run(lambda c: _audit_closes(c, who.username, windows))
    return {"settled": windows}


async def _audit_closes(conn: Connection, actor: str, windows: list[dict[str, Any]]) -> None:
    for w in windows:
        await audit(conn, actor, "settlement.close", "settlement_window", str(w["id"]), None, w)


def billers_named(deps: AdminDeps, biller_id: str | None) -> list[str]:
    """The configured biller of that id, or every one (None); none such is a 404."""
    chosen = [b.id for b in deps.cfg.billers if biller_id in (None, b.id)]
    if not chosen:
        raise ApiError("not_found", f"no biller {biller_id}")
    return chosen


def not_a_business_day(exc: CalendarError) -> ApiError:
    """A weekend or a holiday asked for as a business day: the field's error."""
    return ApiError("invalid_request", str(exc), {"business_date": str(exc)})
