"""``/office/complaints`` and ``/agent/complaints``: complaints registered, assigned,
escalated, resolved (with a refund to the wallet where finance does it) and closed.

Each form's POST calls the API's own route function with the same body model and
the signed-in principal: the same state moves, refund bounds, turnaround deadlines,
history and audit entries, and the same refusals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from switch.admin import complaints as api
from switch.admin.auth import Principal
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import AssignIn, ComplaintIn, NoteIn, ResolveIn
from switch.web import session
from switch.web.forms import form_body, paise_from_rupees
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 50
KINDS = ("transaction", "service")
CATEGORIES = ComplaintIn.model_fields["category"].annotation.__args__  # type: ignore[union-attr]
STATES = ("logged", "assigned", "escalated", "resolved", "closed")
# An action on a complaint: its body model, and the route function it calls.
ACTIONS: dict[str, tuple[type[BaseModel], Any]] = {
    "assign": (AssignIn, api.assign),
    "escalate": (NoteIn, api.escalate),
    "resolve": (ResolveIn, api.resolve),
    "close": (NoteIn, api.close),
}
ACTION_PERMISSION = {
    "assign": "complaints.handle",
    "escalate": "complaints.handle",
    "resolve": "complaints.read",  # the route itself asks for handle, or refund with money
    "close": "complaints.create",
}


@router.get("/complaints")
async def complaint_list(request: Request) -> Response:
    who = await staff(request, "complaints.read")
    return await _list(request, who, {}, {})


async def _list(
    request: Request, who: Principal, errors: dict[str, str], sent: dict[str, str]
) -> Response:
    state = request.query_params.get("state") or None
    chosen: Any = state if state in STATES else None  # one of the route's Literal states
    found = await api.list_complaints(request, who, chosen, None, PAGE_ROWS, None)
    return page(
        request,
        "office/complaints.html",
        who,
        found=found,
        state=state or "",
        states=STATES,
        kinds=KINDS,
        categories=CATEGORIES,
        errors=errors,
        sent=sent,
    )


@router.post("/complaints")
async def register(request: Request) -> Response:
    who = await staff(request, "complaints.create")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    sent = {
        k: str(form.get(k, "")).strip()
        for k in ("kind", "category", "description", "pay_id", "agent_id")
    }
    try:
        body = form_body(ComplaintIn, sent)
        done = await api.register(body, request, who)  # type: ignore[arg-type]
    except ValidationError as exc:
        return await _list(request, who, field_errors(exc.errors()), sent)
    except ApiError as exc:
        if exc.status >= 500 or exc.code == "forbidden":
            raise
        return await _list(request, who, exc.fields or {"": exc.message}, sent)
    return RedirectResponse(f"/office/complaints/{done['id']}", status_code=303)


@router.get("/complaints/{complaint_id}")
async def complaint(request: Request, complaint_id: int) -> Response:
    who = await staff(request, "complaints.read")
    return await _detail(request, who, complaint_id, None, {})


async def _detail(
    request: Request,
    who: Principal,
    complaint_id: int,
    action: str | None,
    errors: dict[str, str],
) -> Response:
    found = await api.get(complaint_id, request, who)
    return page(request, "office/complaint.html", who, c=found, action=action, errors=errors)


@router.post("/complaints/{complaint_id}/{action}")
async def act(request: Request, complaint_id: int, action: str) -> Response:
    if action not in ACTIONS:
        raise ApiError("not_found", f"no action {action}")
    who = await staff(request, ACTION_PERMISSION[action])
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    model, route = ACTIONS[action]
    fields: dict[str, Any] = {k: str(v).strip() for k, v in form.items() if k != "csrf"}
    try:
        if action == "resolve":
            fields["refund_paise"] = paise_from_rupees(fields.pop("refund_rupees", ""))
            fields["write_off"] = fields.get("write_off") == "yes"
        body = form_body(model, fields)
        await route(complaint_id, body, request, who)
    except ValueError as exc:  # pydantic's ValidationError is one too
        errors = (
            field_errors(exc.errors())
            if isinstance(exc, ValidationError)
            else {"refund_rupees": str(exc)}
        )
        return await _detail(request, who, complaint_id, action, errors)
    except ApiError as exc:
        if exc.status >= 500 or exc.code in ("forbidden", "not_found"):
            raise
        return await _detail(request, who, complaint_id, action, exc.fields or {"": exc.message})
    return RedirectResponse(f"/office/complaints/{complaint_id}", status_code=303)
