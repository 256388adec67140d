"""What every back-office page shares: the portal, and the signed-in staff user with
the permission the page needs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from switch.admin.auth import Principal
from switch.admin.errors import ApiError
from switch.admin.roles import PERMISSIONS
from switch.web import forms, session
from switch.web.forms import may
from switch.web.login import Portal

PORTAL = Portal("/office", "Back office", for_agents=False)


async def staff(request: Request, permission: str | None) -> Principal:
    """The signed-in staff user, if the role may ``permission``; else a 403 page."""
    who = await session.principal(request, PORTAL.login_path)
    if who.role == "agent":
        raise ApiError("forbidden", "agents use the agent portal at /agent/")
    if permission is not None and who.role not in PERMISSIONS[permission]:
        raise ApiError("forbidden", f"role {who.role} may not {permission}")
    return who


def page(request: Request, template: str, who: Principal, **context: Any) -> HTMLResponse:
    return forms.page(request, PORTAL, template, who, **context)


__all__ = ["PORTAL", "may", "page", "staff"]
