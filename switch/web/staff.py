"""What every back-office page shares: the portal, the signed-in staff user with the
permission the page needs, and rendering with the session's CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from switch.admin.auth import Principal
from switch.admin.errors import ApiError
from switch.admin.roles import PERMISSIONS
from switch.web import session
from switch.web.login import Portal
from switch.web.templating import render

PORTAL = Portal("/office", "Back office", for_agents=False)


async def staff(request: Request, permission: str | None) -> Principal:
    """The signed-in staff user, if the role may ``permission``; else a 403 page."""
    who = await session.principal(request, PORTAL.login_path)
    if who.role == "agent":
        raise ApiError("forbidden", "agents use the agent portal at /agent/")
    if permission is not None and who.role not in PERMISSIONS[permission]:
        raise ApiError("forbidden", f"role {who.role} may not {permission}")
    return who


def may(who: Principal) -> frozenset[str]:
    """Every permission of the user's role: the pages show only these."""
    return frozenset(p for p, roles in PERMISSIONS.items() if who.role in roles)


def page(request: Request, template: str, who: Principal, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        render(
            template,
            who=who,
            portal=PORTAL,
            csrf=session.form_csrf(request),
            may=may(who),
            **context,
        )
    )
