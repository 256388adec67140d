"""Signing in and out of the back office and the agent portal: one form each, the
same login (``Auth.login``: its throttling, lockouts and audit) as the API.

A staff login signs in at ``/office``, an agent's at ``/agent``; each portal refuses
the other kind, so an agent never lands on a staff page by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from switch.admin import auth_routes
from switch.admin.common import client_ip, deps_of
from switch.admin.errors import ApiError
from switch.admin.field_errors import field_errors
from switch.admin.models import ResetConfirmIn, ResetRequestIn
from switch.web import session
from switch.web.templating import render

MAX_FIELD_CHARS = 128


@dataclass(frozen=True)
class Portal:
    prefix: str  # "/office" or "/agent"
    title: str
    for_agents: bool

    @property
    def login_path(self) -> str:
        return f"{self.prefix}/login"


def add_login_routes(router: APIRouter, portal: Portal) -> None:
    @router.get("/login", include_in_schema=False)
    async def login_form(request: Request, next: str = "") -> Response:
        return _form(request, portal, next, None, "")

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        session.check_login_csrf(request, _text(form.get("csrf")))
        username, password = _text(form.get("username")), _text(form.get("password"))
        next_path = session.safe_next(_text(form.get("next")), f"{portal.prefix}/")
        try:
            done = await deps_of(request).auth.login(username, password, client_ip(request))
        except ApiError as exc:
            if exc.code not in ("bad_credentials", "account_locked", "too_many_attempts"):
                raise
            return _form(request, portal, next_path, exc.message, username, exc.status)
        if (done["role"] == "agent") != portal.for_agents:
            await deps_of(request).auth.logout(f"Bearer {done['token']}")
            where = "/agent/login" if done["role"] == "agent" else "/office/login"
            message = f"this login signs in at {where}"
            return _form(request, portal, next_path, message, username, 403)
        return session.signed_in(request, RedirectResponse(next_path, 303), done["token"])

    @router.get("/reset", include_in_schema=False)
    async def reset_form(request: Request) -> Response:
        return _reset(request, portal, {}, None, "")

    @router.post("/reset/request", include_in_schema=False)
    async def reset_request(request: Request) -> Response:
        """A code by SMS, if the user exists (the answer is the same if not)."""
        form = await request.form()
        session.check_login_csrf(request, _text(form.get("csrf")))
        username = _text(form.get("username"))
        try:
            done = await auth_routes.request_reset(ResetRequestIn(username=username), request)
        except ValidationError as exc:
            return _reset(request, portal, field_errors(exc.errors()), None, username)
        return _reset(request, portal, {}, done["status"], username)

    @router.post("/reset/confirm", include_in_schema=False)
    async def reset_confirm(request: Request) -> Response:
        form = await request.form()
        session.check_login_csrf(request, _text(form.get("csrf")))
        fields = {k: _text(form.get(k)) for k in ("username", "code", "new_password")}
        try:
            await auth_routes.confirm_reset(ResetConfirmIn(**fields), request)
        except ValidationError as exc:
            return _reset(request, portal, field_errors(exc.errors()), None, fields["username"])
        except ApiError as exc:
            if exc.code not in ("bad_credentials", "too_many_attempts"):
                raise
            return _reset(request, portal, {"code": exc.message}, None, fields["username"])
        return _form(request, portal, "", None, fields["username"], done="your password is set")

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await request.form()
        session.check_csrf(request, _text(form.get("csrf")))
        return await session.sign_out(request, portal.login_path)


def _form(
    request: Request,
    portal: Portal,
    next_path: str,
    error: str | None,
    username: str,
    status: int = 200,
    done: str | None = None,
) -> Response:
    csrf = session.new_login_csrf()
    page = render(
        "login.html",
        portal=portal,
        next=session.safe_next(next_path, f"{portal.prefix}/"),
        error=error,
        done=done,
        username=username,
        csrf=csrf,
        who=None,
        path=portal.login_path,
    )
    return session.set_login_csrf(request, HTMLResponse(page, status_code=status), csrf)


def _reset(
    request: Request, portal: Portal, errors: dict[str, str], sent: str | None, username: str
) -> Response:
    csrf = session.new_login_csrf()
    page = render(
        "reset.html",
        portal=portal,
        errors=errors,
        sent=sent,
        username=username,
        csrf=csrf,
        who=None,
        path=f"{portal.prefix}/reset",
    )
    return session.set_login_csrf(request, HTMLResponse(page), csrf)


def _text(value: object) -> str:
    """A form field as text, bounded (an upload or a missing field is empty)."""
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) else ""
