"""Least privilege: which roles may do what. Each endpoint names one permission.

An agent's login ("agent") gets the agent-facing permissions, and every query it makes
is limited to its own agent (``Principal.sees_agent``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from switch.admin.auth import Principal
from switch.admin.errors import ApiError
from switch.admin.models import StaffRole

STAFF_ROLES = ("onboarding", "finance", "operations", "support", "auditor", "admin")
# A payer organisation's staff (switch/bulk/): each login is bound to its payer.
PAYER_ROLES = ("site_incharge", "dgm_f", "circle_nodal")
ROLES = (*STAFF_ROLES, "agent", *PAYER_ROLES)
assert set(StaffRole.__args__) == set(STAFF_ROLES)  # type: ignore[attr-defined]

PERMISSIONS: dict[str, frozenset[str]] = {
    "users.manage": frozenset({"admin"}),
    "users.read": frozenset({"admin", "auditor"}),
    "agents.create": frozenset({"onboarding", "admin"}),
    "agents.read": frozenset({*STAFF_ROLES, "agent"}),
    "agents.documents": frozenset({"onboarding", "admin"}),
    "agents.approve": frozenset({"onboarding", "admin"}),
    "agents.activate": frozenset({"onboarding", "admin"}),
    "agents.block": frozenset({"operations", "admin"}),
    "wallets.read": frozenset({"finance", "operations", "support", "auditor", "admin", "agent"}),
    "wallets.topup": frozenset({"finance", "admin"}),
    "wallets.limits": frozenset({"finance", "admin"}),
    "terminals.read": frozenset({"operations", "support", "auditor", "admin", "agent"}),
    "terminals.manage": frozenset({"operations", "admin"}),
    "complaints.create": frozenset({"support", "operations", "admin", "agent"}),
    "complaints.read": frozenset({*STAFF_ROLES, "agent"}),
    "complaints.handle": frozenset({"support", "operations", "admin"}),
    "complaints.refund": frozenset({"finance", "admin"}),
    "transactions.read": frozenset({*STAFF_ROLES, "agent"}),
    "audit.read": frozenset({"auditor", "admin"}),
    "reports.statement": frozenset(
        {"finance", "operations", "support", "auditor", "admin", "agent"}
    ),
    "reports.totals": frozenset({"finance", "operations", "auditor", "admin"}),
    "settlement.read": frozenset({"finance", "operations", "auditor", "admin"}),
    "settlement.run": frozenset({"finance", "operations", "admin"}),
    "recon.read": frozenset({"finance", "operations", "auditor", "admin"}),
    "recon.resolve": frozenset({"finance", "admin"}),
    "billers.read": frozenset({"operations", "support", "auditor", "admin"}),
    "partners.manage": frozenset({"onboarding", "admin"}),
    "links.send": frozenset({"operations", "admin"}),
    "imports.agents": frozenset({"onboarding", "admin"}),
    "imports.money": frozenset({"finance", "admin"}),
    "imports.history": frozenset({"operations", "admin"}),
    "imports.read": frozenset({"onboarding", "finance", "operations", "auditor", "admin"}),
    "legacy.read": frozenset(STAFF_ROLES),  # the imported payment history
    "links.read": frozenset({"finance", "operations", "support", "auditor", "admin"}),
    "payers.manage": frozenset({"onboarding", "admin"}),
    "bulk.read": frozenset({"finance", "operations", "support", "auditor", "admin", *PAYER_ROLES}),
    "bulk.intake": frozenset({"operations", "admin", "circle_nodal"}),
    "bulk.decide": frozenset(PAYER_ROLES),  # the workflow says which role takes each step
    "bulk.erp": frozenset({"operations", "admin", "circle_nodal"}),
    "bulk.pay": frozenset({"finance", "admin", "circle_nodal"}),
    "partners.read": frozenset(
        {"onboarding", "finance", "operations", "support", "auditor", "admin"}
    ),
}

bearer = HTTPBearer(auto_error=False, description="POST /v1/auth/login gives the token")


async def current(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    header = f"Bearer {credentials.credentials}" if credentials else None
    principal: Principal = await request.app.state.deps.auth.principal(header)
    return principal


def allow(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if its role has ``permission``; else 403."""
    roles = PERMISSIONS[permission]

    async def check(who: Annotated[Principal, Depends(current)]) -> Principal:
        if who.role not in roles:
            raise ApiError("forbidden", f"role {who.role} may not {permission}")
        return who

    return check
