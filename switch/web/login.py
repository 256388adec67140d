"""Signing in and out of the back office and the agent portal: one form each, the
same login (``Auth.login``: its throttling, lockouts and audit) as the API.

A staff login signs in at ``/office``, an agent's at ``/agent``; each portal refuses
the other kind, so an agent never lands on a staff page by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from switch.admin.common import client_ip, deps_of
from switch.admin.errors import ApiError
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
) -> Response:
    csrf = session.new_login_csrf()
    page = render(
        "login.html",
        portal=portal,
        next=session.safe_next(next_path, f"{portal.prefix}/"),
        error=error,
        username=username,
        csrf=csrf,
        who=None,
        path=portal.login_path,
    )
    return session.set_login_csrf(request, HTMLResponse(page, status_code=status), csrf)


def _text(value: object) -> str:
    """A form field as text, bounded (an upload or a missing field is empty)."""
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) else ""
