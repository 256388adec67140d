"""``/agent``: the agent portal. An agent's login only, and its own agent only: every
service is called with the agent's principal, which the services hold to its own
agent (another agent's pay in the URL is "not found"). English or Hindi."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from switch.admin import complaints as complaints_api
from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import ComplaintIn
from switch.admin.receipts import pdf_response, receipt_for
from switch.admin.terminals import terminals_of
from switch.admin.transactions import hold_of, pay_story
from switch.admin.wallets import wallet_statement
from switch.settlement import reports
from switch.web import complaints as complaints_page
from switch.web import forms, session
from switch.web.login import Portal, add_login_routes
from switch.web.templating import LANG_COOKIE, LANGUAGES, set_language

PORTAL = Portal("/agent", "Agent portal", for_agents=True)
PAGE_ROWS = 100


async def _language(request: Request) -> None:
    """Every agent page speaks the language the agent chose (a cookie)."""
    set_language(request.cookies.get(LANG_COOKIE, "en"))


router = APIRouter(prefix="/agent", include_in_schema=False, dependencies=[Depends(_language)])


add_login_routes(router, PORTAL)


async def agent(request: Request) -> Principal:
    who = await session.principal(request, PORTAL.login_path)
    if who.role != "agent" or who.agent_id is None:
        raise ApiError("forbidden", "the agent portal is for agents' logins")
    return who


def page(request: Request, template: str, who: Principal, **context: Any) -> HTMLResponse:
    return forms.page(request, PORTAL, template, who, **context)


@router.get("/")
async def payments(request: Request) -> Response:
    who = await agent(request)
    assert who.agent_id is not None
    first, last, errors = forms.day_range(dict(request.query_params))
    deps = deps_of(request)
    statement = await reports.agent_statement(
        deps.read_db, who.agent_id, first, last, deps.cfg.billers
    )
    return page(
        request, "agent/payments.html", who, s=statement, first=first, last=last, errors=errors
    )


@router.get("/payments/{txn_id}")
async def receipt(request: Request, txn_id: int) -> Response:
    who = await agent(request)
    story = await pay_story(deps_of(request).db, who, txn_id)  # another agent's: not found
    hold = await hold_of(deps_of(request).db, story["terminal_id"], story["terminal_ref"])
    return page(request, "agent/receipt.html", who, pay=story, hold=hold)


@router.get("/payments/{txn_id}/receipt.pdf")
async def receipt_pdf(request: Request, txn_id: int) -> Response:
    who = await agent(request)
    return pdf_response(await receipt_for(request, txn_id, who))  # another's: not found


@router.get("/wallet")
async def wallet(request: Request) -> Response:
    who = await agent(request)
    first, last, errors = forms.day_range(dict(request.query_params))
    db = deps_of(request).db
    account = await db.fetchrow(
        """SELECT a.wallet_account_id, c.balance_paise FROM agents a
             JOIN accounts c ON c.id = a.wallet_account_id WHERE a.id = $1""",
        who.agent_id,
    )
    if account is None:
        raise ApiError("not_found", f"no agent {who.agent_id}")
    after = request.query_params.get("after", "")
    found = await wallet_statement(
        db,
        account["wallet_account_id"],
        first,
        last,
        PAGE_ROWS,
        int(after) if after.isdigit() else None,
    )
    return page(
        request,
        "agent/wallet.html",
        who,
        found=found,
        balance=account["balance_paise"],
        first=first,
        last=last,
        errors=errors,
    )


@router.get("/terminals")
async def terminals(request: Request) -> Response:
    who = await agent(request)
    found = await terminals_of(deps_of(request).db, who.agent_id, None, PAGE_ROWS, None)
    return page(request, "agent/terminals.html", who, found=found)


@router.post("/language")
async def language(request: Request) -> Response:
    form = await request.form()
    lang = str(form.get("lang", "en"))
    back = session.safe_next(str(form.get("next", "")), "/agent/")
    response = RedirectResponse(back, status_code=303)
    if lang in LANGUAGES:
        secure = deps_of(request).cfg.admin.secure_cookies
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", secure=secure, path="/agent"
        )
    return response


@router.get("/complaints")
async def my_complaints(request: Request) -> Response:
    who = await agent(request)
    return await _complaints(request, who, {}, {})


async def _complaints(
    request: Request, who: Principal, errors: dict[str, str], sent: dict[str, str]
) -> Response:
    found = await complaints_api.list_complaints(request, who, None, None, PAGE_ROWS, None)
    return page(
        request,
        "agent/complaints.html",
        who,
        found=found,
        errors=errors,
        sent=sent,
        categories=complaints_page.CATEGORIES,
    )


@router.post("/complaints")
async def raise_complaint(request: Request) -> Response:
    """A complaint about one of the agent's payments, or about the service."""
    who = await agent(request)
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    sent = {k: str(form.get(k, "")).strip() for k in ("category", "description", "pay_id")}
    fields = {**sent, "kind": "transaction" if sent["pay_id"] else "service"}
    try:
        body = forms.form_body(ComplaintIn, fields)
        await complaints_api.register(body, request, who)  # type: ignore[arg-type]
    except ValidationError as exc:
        return await _complaints(request, who, field_errors(exc.errors()), sent)
    except ApiError as exc:
        if exc.status >= 500 or exc.code == "forbidden":
            raise
        return await _complaints(request, who, exc.fields or {"": exc.message}, sent)
    return RedirectResponse("/agent/complaints", status_code=303)
