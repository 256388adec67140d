"""``/office``: the staff's pages. Each asks for one permission of the API's roles
(switch/admin/roles.py) and calls the service the API's route calls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import trio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from switch.admin.auth import Principal
from switch.admin.auth_routes import change_password_of
from switch.admin.common import MAX_ID, deps_of
from switch.admin.errors import ApiError, field_errors
from switch.admin.models import PasswordChangeIn
from switch.admin.roles import PERMISSIONS
from switch.admin.transactions import Search, hold_of, pay_story, search_pays
from switch.history.archive import archived_months
from switch.settlement import reports
from switch.settlement.calendar import IST
from switch.web import session
from switch.web.login import Portal, add_login_routes
from switch.web.templating import render

PORTAL = Portal("/office", "Back office", for_agents=False)
router = APIRouter(prefix="/office", include_in_schema=False)
add_login_routes(router, PORTAL)
PAGE_ROWS = 50
STATES = (
    "received",
    "reserved",
    "sent",
    "confirmed",
    "rejected",
    "unknown",
    "reversing",
    "posted",
    "voided",
)
# The home page's tiles: a page, and the permission it needs.
TILES = (
    (
        "transactions.read",
        "/office/transactions",
        "Transactions",
        "search pays; one pay's whole story",
    ),
    (
        "reports.totals",
        "/office/reports",
        "MIS reports",
        "totals by biller, region, district, agent or day; chart; CSV",
    ),
    (None, "/office/password", "Password", "change your password"),
)
_CHART_LIMITER = trio.CapacityLimiter(1)


async def staff(request: Request, permission: str | None) -> Principal:
    """The signed-in staff user, if the role may ``permission``; else a 403 page."""
    who = await session.principal(request, PORTAL.login_path)
    if who.role == "agent":
        raise ApiError("forbidden", "agents use the agent portal at /agent/")
    if permission is not None and who.role not in PERMISSIONS[permission]:
        raise ApiError("forbidden", f"role {who.role} may not {permission}")
    return who


def page(request: Request, template: str, who: Principal, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        render(template, who=who, portal=PORTAL, csrf=session.form_csrf(request), **context)
    )


@router.get("/")
async def home(request: Request) -> Response:
    who = await staff(request, None)
    tiles = [t for t in TILES if t[0] is None or who.role in PERMISSIONS[t[0]]]
    return page(request, "office/home.html", who, tiles=tiles)


def _search_from(query: dict[str, str]) -> tuple[Search, int | None, dict[str, str]]:
    """The search form's fields, each checked as the API checks it."""
    errors: dict[str, str] = {}

    def number(name: str) -> int | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
            errors[name] = "a whole number, 1 or more"
            return None
        return int(raw)

    def day(name: str) -> dt.date | None:
        raw = query.get(name, "").strip()
        try:
            return dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            errors[name] = "a date: YYYY-MM-DD"
            return None

    def text(name: str, limit: int) -> str | None:
        raw = query.get(name, "").strip()
        if len(raw) > limit:
            errors[name] = f"at most {limit} characters"
        return raw[:limit] or None

    state = query.get("state") or None
    if state is not None and state not in STATES:
        errors["state"] = "not a state"
        state = None
    f = Search(
        txn_id=number("txn_id"),
        biller_txn_id=text("biller_txn_id", 64),
        terminal_id=text("terminal_id", 20),
        terminal_ref=text("terminal_ref", 64),
        account=text("account", 40),
        agent_id=text("agent_id", 20),
        biller_id=text("biller_id", 40),
        state=state,
        start=day("from"),
        end=day("to"),
    )
    return f, number("before"), errors


@router.get("/transactions")
async def transactions(request: Request) -> Response:
    who = await staff(request, "transactions.read")
    query = dict(request.query_params)
    f, before, errors = _search_from(query)
    found: dict[str, Any] = {"items": [], "next": None, "archived_months": []}
    if not errors:
        try:
            found = await search_pays(deps_of(request).read_db, who, f, PAGE_ROWS, before)
        except ApiError as exc:
            errors = exc.fields or {"": exc.message}
    more = {k: v for k, v in query.items() if k != "before" and v}
    return page(
        request,
        "office/transactions.html",
        who,
        found=found,
        query=query,
        errors=errors,
        states=STATES,
        more=more,
    )


@router.get("/transactions/{txn_id}")
async def transaction(request: Request, txn_id: int) -> Response:
    who = await staff(request, "transactions.read")
    story = await pay_story(deps_of(request).db, who, txn_id)
    hold = await hold_of(deps_of(request).db, story["terminal_id"], story["terminal_ref"])
    return page(request, "office/pay.html", who, pay=story, hold=hold)


@router.get("/password")
async def password_form(request: Request) -> Response:
    who = await staff(request, None)
    return page(request, "office/password.html", who, errors={}, done=False)


@router.post("/password")
async def password(request: Request) -> Response:
    who = await staff(request, None)
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    fields = {k: str(form.get(k, "")) for k in ("old_password", "new_password")}
    try:
        body = PasswordChangeIn(**fields)
        await change_password_of(deps_of(request), who, body.old_password, body.new_password)
    except ValidationError as exc:
        return page(
            request, "office/password.html", who, errors=field_errors(exc.errors()), done=False
        )
    except ApiError as exc:
        if exc.code != "bad_credentials":
            raise
        return page(
            request, "office/password.html", who, errors={"old_password": exc.message}, done=False
        )
    return page(request, "office/password.html", who, errors={}, done=True)


def _report_range(query: dict[str, str]) -> tuple[dt.date, dt.date, list[str], dict[str, str]]:
    errors: dict[str, str] = {}
    days = []
    for name in ("from", "to"):
        raw = query.get(name, "").strip()
        try:
            days.append(dt.date.fromisoformat(raw) if raw else None)
        except ValueError:
            errors[name] = "a date: YYYY-MM-DD"
            days.append(None)
    first, last = reports.default_range(days[0], days[1], dt.datetime.now(IST).date())
    try:
        reports.check_range(first, last)
    except reports.ReportError as exc:
        errors[exc.field or "from"] = exc.why or str(exc)
    by = [g for g in query.get("by", "biller").split(",") if g]
    if not by or any(g not in reports.GROUP_COLUMNS for g in by) or len(set(by)) != len(by):
        errors["by"] = f"distinct ones of {', '.join(reports.GROUP_COLUMNS)}"
        by = ["biller"]
    return first, last, by, errors


@router.get("/reports")
async def mis(request: Request) -> Response:
    who = await staff(request, "reports.totals")
    query = dict(request.query_params)
    first, last, by, errors = _report_range(query)
    deps = deps_of(request)
    rows: list[dict[str, Any]] = []
    archived: list[str] = []
    if not errors:
        rows = await reports.totals(deps.read_db, by, first, last, deps.cfg.billers)
        archived = await archived_months(deps.read_db, first, last)
    return page(
        request,
        "office/reports.html",
        who,
        rows=rows,
        by=by,
        first=first,
        last=last,
        errors=errors,
        groups=reports.GROUP_COLUMNS,
        archived=archived,
        query=f"from={first}&to={last}&by={','.join(by)}",
    )


@router.get("/reports/totals.csv")
async def mis_csv(request: Request) -> Response:
    await staff(request, "reports.totals")
    first, last, by, errors = _report_range(dict(request.query_params))
    if errors:
        raise ApiError("invalid_request", "; ".join(f"{k}: {v}" for k, v in errors.items()))
    deps = deps_of(request)
    rows = await reports.totals(deps.read_db, by, first, last, deps.cfg.billers)
    name = f"totals_{'_'.join(by)}_{first}_{last}.csv"
    return Response(
        reports.as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/reports/chart.png")
async def mis_chart(request: Request) -> Response:
    await staff(request, "reports.totals")
    first, last, _, errors = _report_range(dict(request.query_params))
    if errors:
        raise ApiError("invalid_request", "; ".join(f"{k}: {v}" for k, v in errors.items()))
    rows = await reports.daily_by_biller(deps_of(request).read_db, first, last)

    def draw() -> bytes:
        from switch.settlement.chart import chart_png  # matplotlib: slow to import

        return chart_png(rows, first, last)

    png = await trio.to_thread.run_sync(draw, limiter=_CHART_LIMITER)
    return Response(png, media_type="image/png")
