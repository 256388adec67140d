"""``/office``: signing in, the home page per role, transaction search and one pay's
story, the password. Each page asks for one permission of the API's roles
(switch/admin/roles.py) and calls the service the API's route calls."""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from switch.admin.auth import Principal
from switch.admin.auth_routes import change_password_of
from switch.admin.common import MAX_ID, deps_of
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import PasswordChangeIn
from switch.admin.roles import PERMISSIONS
from switch.admin.transactions import Search, State, hold_of, pay_story, search_pays
from switch.web import session
from switch.web.login import add_login_routes
from switch.web.staff import PORTAL, page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
add_login_routes(router, PORTAL)
PAGE_ROWS = 50
STATES = typing.get_args(State)  # the API's own list of a pay's states
CHANNELS = ("terminal", "partner")
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
    (
        "bulk.read",
        "/office/bills",
        "Bills",
        "a payer's electricity bills: checks, dockets, approvals",
    ),
    (None, "/office/password", "Password", "change your password"),
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
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        errors["channel"] = "not a channel"
        channel = None
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
        channel=channel,
    )
    return f, number("before"), errors


# Filters that name a person (a consumer's account) travel in a POST body, never in a
# URL (browser history, proxy logs); ids, states and days may be linked to.
PRIVATE_FILTERS = frozenset({"account"})


@router.get("/transactions")
async def transactions(request: Request) -> Response:
    who = await staff(request, "transactions.read")
    query = {k: v for k, v in request.query_params.items() if k not in PRIVATE_FILTERS}
    return await _transactions(request, who, query)


@router.post("/transactions")
async def transactions_searched(request: Request) -> Response:
    who = await staff(request, "transactions.read")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    query = {k: str(v)[:64] for k, v in form.items() if k != "csrf" and isinstance(v, str)}
    return await _transactions(request, who, query)


async def _transactions(request: Request, who: Principal, query: dict[str, str]) -> Response:
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
        channels=CHANNELS,
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
