"""``/office/recon``: reconciliation cases (one per break against a biller's own
report) and their resolution, through the API's own ``resolve_case_of``: the same
rules, the same money moved through the ledger, the same audit entry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import ResolveCaseIn
from switch.admin.recon import resolve_case_of
from switch.admin.roles import PERMISSIONS
from switch.settlement import cases
from switch.web import session
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 50
RESOLUTIONS = {
    "refund_agent": "refund the agent (the biller does not have it)",
    "force_post": "post it (the biller has it)",
    "no_money": "no money moves",
}


@router.get("/recon")
async def case_list(request: Request) -> Response:
    who = await staff(request, "recon.read")
    state = request.query_params.get("state", "open")
    state = state if state in ("open", "resolved") else "open"
    after = request.query_params.get("after", "")
    rows = await cases.list_cases(
        deps_of(request).read_db, state, None, PAGE_ROWS + 1, int(after) if after.isdigit() else 0
    )
    return page(
        request,
        "office/recon.html",
        who,
        rows=rows[:PAGE_ROWS],
        state=state,
        next=rows[PAGE_ROWS - 1]["id"] if len(rows) > PAGE_ROWS else None,
        may_resolve=who.role in PERMISSIONS["recon.resolve"],
        resolutions=RESOLUTIONS,
        errors={},
        case_id=None,
        done=request.query_params.get("done", "")[:20],
    )


@router.post("/recon/{case_id}/resolve")
async def resolve(request: Request, case_id: int) -> Response:
    who = await staff(request, "recon.resolve")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    try:
        body = ResolveCaseIn.model_validate(
            {"resolution": str(form.get("resolution", "")), "note": str(form.get("note", ""))}
        )
        await resolve_case_of(deps_of(request), who, case_id, body)
    except ValidationError as exc:
        return await _again(request, case_id, field_errors(exc.errors()))
    except ApiError as exc:
        if exc.code not in ("invalid_state", "insufficient_funds"):
            raise
        return await _again(request, case_id, {"": exc.message})
    return RedirectResponse(f"/office/recon?done={case_id}", status_code=303)


async def _again(request: Request, case_id: int, errors: dict[str, str]) -> Response:
    """The list again, with the case's form showing what was wrong."""
    who = await staff(request, "recon.resolve")
    rows = await cases.list_cases(deps_of(request).db, "open", None, PAGE_ROWS, 0)
    return page(
        request,
        "office/recon.html",
        who,
        rows=rows,
        state="open",
        next=None,
        may_resolve=True,
        resolutions=RESOLUTIONS,
        errors=errors,
        case_id=case_id,
        done="",
    )
