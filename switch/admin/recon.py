"""/v1/recon: reconciliation cases (one per break found against a biller's own
report), their resolution through the ledger, and running reconciliation by hand.

The same operations as ``switch recon run|cases|resolve`` (switch/settlement/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, RowId, deps_of, page
from switch.admin.errors import ApiError
from switch.admin.models import CloseIn, ResolveCaseIn
from switch.admin.roles import allow
from switch.admin.settlement import billers_named, not_a_business_day
from switch.db.rows import json_ready
from switch.protocols.billers.base import BillerUnavailable
from switch.settlement import cases
from switch.settlement.calendar import CalendarError
from switch.settlement.store import SettlementError

if TYPE_CHECKING:
    from switch.admin.app import AdminDeps

router = APIRouter(prefix="/v1", tags=["reconciliation"])
BillerId = Annotated[str | None, Query(max_length=40)]


@router.get("/recon/cases", summary="Reconciliation cases (one per break), oldest first")
async def list_cases(
    request: Request,
    who: Annotated[Principal, Depends(allow("recon.read"))],
    state: Literal["open", "resolved"] | None = "open",
    biller_id: BillerId = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    rows = await cases.list_cases(deps_of(request).read_db, state, biller_id, limit + 1, after or 0)
    return page(rows, limit)


@router.get("/recon/cases/{case_id}", summary="One reconciliation case")
async def get_case(
    case_id: RowId, request: Request, who: Annotated[Principal, Depends(allow("recon.read"))]
) -> dict[str, Any]:
    row = await deps_of(request).db.fetchrow("SELECT * FROM recon_cases WHERE id = $1", case_id)
    if row is None:
        raise ApiError("not_found", f"no case {case_id}")
    return json_ready(row)


@router.post(
    "/recon/cases/{case_id}/resolve",
    summary="Resolve a case: refund_agent or force_post move money through the ledger "
    "(commission and fee follow what the biller kept; `money` in the answer says what moved)",
)
async def resolve_case(
    case_id: RowId,
    body: ResolveCaseIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("recon.resolve"))],
) -> dict[str, Any]:
    return await resolve_case_of(deps_of(request), who, case_id, body)


async def resolve_case_of(
    deps: AdminDeps, who: Principal, case_id: int, body: ResolveCaseIn
) -> dict[str, Any]:
    """Resolve one case as ``who`` (the API and the back office's page)."""
    if await deps.db.fetchval("SELECT 1 FROM recon_cases WHERE id = $1", case_id) is None:
        raise ApiError("not_found", f"no case {case_id}")
    try:
        done = await cases.resolve(
            deps.db, case_id, body.resolution, who.username, body.note, deps.cfg.billers
        )
    except cases.CaseError as exc:
        code = "insufficient_funds" if exc.reason == "insufficient_funds" else "invalid_state"
        raise ApiError(code, str(exc)) from None
    return done.as_dict()


@router.post(
    "/recon/run",
    summary="Reconcile settled days now: one business day, or every settled day not yet "
    "reconciled (the switch also does it on its own after each settlement)",
)
async def run(
    body: CloseIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("settlement.run"))],
) -> dict[str, Any]:
    deps = deps_of(request)
    s = deps.settlement
    chosen = billers_named(deps, body.biller_id)
    assert s.reconciler is not None  # the server's settlement always reconciles
    try:
        if body.business_date is None:
            done = [r for r in await s.reconcile_pending() if r.biller_id in chosen]
        else:
            done = [await s.reconciler.run(b, body.business_date) for b in chosen]
    except CalendarError as exc:
        raise not_a_business_day(exc) from None
    except BillerUnavailable as exc:
        raise ApiError("biller_unavailable", str(exc)) from None
    except SettlementError as exc:
        raise ApiError("invalid_state", str(exc)) from None
    return {"reconciled": [r.as_dict() for r in done]}
