"""``/office/agents``: onboarding (the KYC form, documents, the four-eyes approval,
activation) and each agent's terminals and wallet.

Every POST calls the API's own route function with its body model and the signed-in
principal: the same KYC rules and field messages, the same four eyes (whoever entered
an application cannot approve it), the same audit entries. A terminal's credentials
are shown once, on the page that provisions it, and never again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from switch.admin import agents as api
from switch.admin import terminals as terminals_api
from switch.admin import wallets as wallets_api
from switch.admin.auth import Principal
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import AgentIn, LimitsIn, ReasonIn, TopUpIn
from switch.web import session
from switch.web.forms import form_body, paise_from_rupees
from switch.web.staff import may, page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 50
STATEMENT_ROWS = 10  # on the agent's page; the whole statement is in the API
STATES = ("pending_kyc", "returned", "rejected", "approved", "active", "blocked", "closed")
KYC_FIELDS = tuple(AgentIn.model_fields)
DOCUMENT_KINDS = api.DocumentKind.__args__  # type: ignore[attr-defined]
# Actions on an agent: the permission each needs, and the route function.
AGENT_ACTIONS = {
    "approve": ("agents.approve", api.approve),
    "activate": ("agents.activate", api.activate),
    "block": ("agents.block", api.block),
    "unblock": ("agents.block", api.unblock),
    "freeze": ("wallets.limits", wallets_api.freeze),
    "unfreeze": ("wallets.limits", wallets_api.unfreeze),
}
TERMINAL_ACTIONS = {"block": terminals_api.block, "unblock": terminals_api.unblock}


@router.get("/agents")
async def agent_list(request: Request) -> Response:
    who = await staff(request, "agents.read")
    state = request.query_params.get("state") or None
    chosen: Any = state if state in STATES else None
    found = await api.list_agents(request, who, chosen, PAGE_ROWS, None)
    return page(request, "office/agents.html", who, found=found, state=state or "", states=STATES)


@router.get("/agents/new")
async def application_form(request: Request) -> Response:
    who = await staff(request, "agents.create")
    return _application(request, who, {}, {})


@router.post("/agents/new")
async def apply(request: Request) -> Response:
    who = await staff(request, "agents.create")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    sent = {k: str(form.get(k, "")).strip() for k in KYC_FIELDS}
    try:
        body = form_body(AgentIn, sent)
        made = await api.apply(body, request, who)  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = field_errors(exc.errors())
    except ApiError as exc:
        if exc.status >= 500 or exc.code == "forbidden":
            raise
        errors = exc.fields or {"": exc.message}
    else:
        return RedirectResponse(f"/office/agents/{made['id']}", status_code=303)
    return _application(request, who, sent, errors)


@router.get("/agents/{agent_id}/edit")
async def correction_form(request: Request, agent_id: str) -> Response:
    """A returned application, to correct: the form with what it holds now."""
    who = await staff(request, "agents.create")
    agent = await api.get(agent_id, request, who)
    sent = {k: "" if agent.get(k) is None else str(agent[k]) for k in KYC_FIELDS}
    note = (
        {"": f"sent back by {agent['reviewed_by']}: {agent['review_note']}"}
        if agent.get("review_note")
        else {}
    )
    return _application(request, who, sent, note, agent_id)


def _application(
    request: Request,
    who: Principal,
    sent: dict[str, str],
    errors: dict[str, str],
    agent_id: str | None = None,
) -> Response:
    """The KYC form: a new application, or a returned one to correct."""
    action = f"/office/agents/{agent_id}/edit" if agent_id else "/office/agents/new"
    return page(
        request,
        "office/agent_new.html",
        who,
        sent=sent,
        errors=errors,
        fields=KYC_FIELDS,
        action=action,
        agent_id=agent_id,
    )


@router.get("/agents/{agent_id}")
async def agent_page(request: Request, agent_id: str) -> Response:
    who = await staff(request, "agents.read")
    return await _agent(request, who, agent_id)


async def _agent(
    request: Request,
    who: Principal,
    agent_id: str,
    errors: dict[str, str] | None = None,
    credentials: dict[str, Any] | None = None,
) -> Response:
    agent = await api.get(agent_id, request, who)
    documents = (await api.documents(agent_id, request, who))["items"]
    allowed = may(who)
    terminals = (
        await terminals_api.terminals_of(request.app.state.deps.db, agent_id, None, 100, None)
        if "terminals.read" in allowed
        else {"items": []}
    )
    wallet = await wallets_api.wallet(agent_id, request, who) if "wallets.read" in allowed else None
    movements: list[dict[str, Any]] = []
    if wallet is not None:  # the newest movements, from the API's own statement
        account_id = await request.app.state.deps.db.fetchval(
            "SELECT wallet_account_id FROM agents WHERE id = $1", agent_id
        )
        found = await wallets_api.wallet_statement(
            request.app.state.deps.db,
            account_id,
            None,
            None,
            STATEMENT_ROWS,
            None,
            newest_first=True,
        )
        movements = found["items"]
    sessions = request.app.state.deps.sessions
    live = set(sessions.sessions) if sessions is not None else set()
    return page(
        request,
        "office/agent.html",
        who,
        a=agent,
        documents=documents,
        terminals=terminals,
        wallet=wallet,
        movements=movements,
        errors=errors or {},
        credentials=credentials,
        kinds=DOCUMENT_KINDS,
        live=live,
    )


@router.post("/agents/{agent_id}/{action}")
async def agent_action(request: Request, agent_id: str, action: str) -> Response:
    """approve, reject, send-back, edit (a returned one), activate, block, unblock,
    freeze, unfreeze; documents; terminal; topup; limits."""
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    if action in AGENT_ACTIONS:
        permission, route = AGENT_ACTIONS[action]
        who = await staff(request, permission)
        return await _attempt(request, who, agent_id, lambda: route(agent_id, request, who))
    if action in ("reject", "send-back"):
        who = await staff(request, "agents.approve")
        review: Any = api.reject if action == "reject" else api.send_back
        try:
            reason = form_body(ReasonIn, {"reason": str(form.get("reason", "")).strip()})
        except ValidationError as exc:
            return await _agent(request, who, agent_id, field_errors(exc.errors()))
        return await _attempt(
            request,
            who,
            agent_id,
            lambda: review(agent_id, reason, request, who),
        )
    if action == "edit":
        who = await staff(request, "agents.create")
        sent = {k: str(form.get(k, "")).strip() for k in KYC_FIELDS}
        try:
            body = form_body(AgentIn, sent)
            await api.correct(agent_id, body, request, who)  # type: ignore[arg-type]
        except ValidationError as exc:
            return _application(request, who, sent, field_errors(exc.errors()), agent_id)
        except ApiError as exc:
            if exc.status >= 500 or exc.code in ("forbidden", "not_found"):
                raise
            return _application(request, who, sent, exc.fields or {"": exc.message}, agent_id)
        return RedirectResponse(f"/office/agents/{agent_id}", status_code=303)
    if action == "documents":
        who = await staff(request, "agents.documents")
        upload = form.get("file")
        kind = str(form.get("kind", ""))
        if not isinstance(upload, UploadFile) or kind not in DOCUMENT_KINDS:
            return await _agent(request, who, agent_id, {"file": "choose a kind and a file"})
        return await _attempt(
            request,
            who,
            agent_id,
            lambda: api.upload(agent_id, request, who, kind, upload),  # type: ignore[arg-type]
        )
    if action == "terminal":
        who = await staff(request, "terminals.manage")
        made = await terminals_api.provision(agent_id, request, who)
        return await _agent(request, who, agent_id, credentials=made)
    if action == "limits":
        who = await staff(request, "wallets.limits")
        rupee_fields = {
            "max_balance": "max_balance_paise",
            "per_txn": "per_txn_paise",
            "per_day": "per_day_paise",
        }
        try:
            paise = {
                api_name: paise_from_rupees(str(form.get(f"{name}_rupees", "")))
                for name, api_name in rupee_fields.items()
            }
            limits = form_body(LimitsIn, paise)
        except ValidationError as exc:
            return await _agent(request, who, agent_id, field_errors(exc.errors()))
        except ValueError as exc:
            return await _agent(request, who, agent_id, {"limits": str(exc)})
        return await _attempt(
            request,
            who,
            agent_id,
            lambda: wallets_api.set_limits(agent_id, limits, request, who),  # type: ignore[arg-type]
        )
    if action == "topup":
        who = await staff(request, "wallets.topup")
        try:
            amount = paise_from_rupees(str(form.get("amount_rupees", "")))
            body = form_body(
                TopUpIn, {"amount_paise": amount, "bank_ref": str(form.get("bank_ref", "")).strip()}
            )
        except ValidationError as exc:
            return await _agent(request, who, agent_id, field_errors(exc.errors()))
        except ValueError as exc:
            return await _agent(request, who, agent_id, {"amount_rupees": str(exc)})
        return await _attempt(
            request,
            who,
            agent_id,
            lambda: wallets_api.top_up(agent_id, body, request, who),  # type: ignore[arg-type]
        )
    raise ApiError("not_found", f"no action {action}")


async def _attempt(request: Request, who: Principal, agent_id: str, call: Any) -> Response:
    """Do it; a refusal the person can act on comes back on the agent's page."""
    try:
        await call()
    except ApiError as exc:
        if exc.status >= 500 or exc.code in ("forbidden", "not_found"):
            raise
        return await _agent(request, who, agent_id, exc.fields or {"": exc.message})
    return RedirectResponse(f"/office/agents/{agent_id}", status_code=303)


@router.post("/terminals/{terminal_id}/{action}")
async def terminal_action(request: Request, terminal_id: str, action: str) -> Response:
    """block, unblock; rotate-key (the new credentials shown once; the old key and its
    live session end at once)."""
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    who = await staff(request, "terminals.manage")
    if action == "rotate-key":
        made = await terminals_api.rotate(terminal_id, request, who)
        return await _agent(request, who, made["agent_id"], credentials=made)
    if action not in TERMINAL_ACTIONS:
        raise ApiError("not_found", f"no action {action}")
    done = await TERMINAL_ACTIONS[action](terminal_id, request, who)
    return RedirectResponse(f"/office/agents/{done['agent_id']}", status_code=303)
