"""What every admin route module shares: the deps, paging, scoping to an agent.
(Rows become JSON with ``switch.db.rows.json_ready``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path, Query, Request

from switch.admin.auth import Principal
from switch.admin.errors import ApiError

if TYPE_CHECKING:
    from switch.admin.app import AdminDeps

MAX_PAGE = 200
MAX_ID = 2**63 - 1  # bigint: larger numbers are refused as invalid, never reach SQL
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")]
After = Annotated[int | None, Query(ge=0, le=MAX_ID, description="the `next` of the previous page")]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def deps_of(request: Request) -> AdminDeps:
    deps: AdminDeps = request.app.state.deps
    return deps


def client_ip(request: Request) -> str:
    """The caller's address. Behind a proxy named in ``[admin] trusted_proxies``, the
    last address in X-Forwarded-For that is not itself a trusted proxy (the earlier
    ones are whatever the client chose to send)."""
    peer = request.client.host if request.client else ""
    trusted = deps_of(request).cfg.admin.trusted_proxies
    if peer not in trusted:
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if hop not in trusted:
            return hop[:64]
    return peer


def page(rows: list[dict[str, Any]], limit: int, key: str = "id") -> dict[str, Any]:
    """``rows`` fetched with ``limit + 1``: the page, and where the next one starts."""
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next": items[-1][key] if more and items else None}


def own_agent(who: Principal, agent_id: str | None) -> str | None:
    """An agent's login is held to its own agent: its agent id, whatever was asked;
    asking for another agent's is a 404 (an agent must not learn who exists)."""
    if who.role != "agent":
        return agent_id
    if agent_id is not None and agent_id != who.agent_id:
        raise ApiError("not_found", f"no agent {agent_id}")
    return who.agent_id


def in_ist_days(column: str, start: str, end: str) -> str:
    """SQL: ``column`` falls on IST calendar days ``start``..``end`` (parameters,
    either NULL for an open end)."""
    day = "::date::timestamp AT TIME ZONE 'Asia/Kolkata'"
    return (
        f"({start}::date IS NULL OR {column} >= ({start}{day}))"
        f" AND ({end}::date IS NULL OR {column} < (({end}::date + 1){day[6:]}))"
    )
