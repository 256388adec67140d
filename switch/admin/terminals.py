"""/v1/terminals: provision (the credentials file for the device), list, block and
unblock, rotate the key. Blocking or rotating cuts the terminal's live session at once.

The private key is in the answer to provisioning or rotation only: the switch keeps
the public key, so a lost credentials file is replaced by rotating, never re-read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, deps_of, own_agent, page
from switch.admin.errors import ApiError
from switch.admin.roles import allow
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.protocols.terminal.errors import ErrorCode
from switch.provisioning import store
from switch.provisioning.credentials import Credentials

router = APIRouter(prefix="/v1", tags=["terminals"])
TERMINAL_COLUMNS = "id, agent_id, state, language, created_at, last_seen_at"


async def _audit(
    request: Request,
    who: Principal,
    action: str,
    terminal_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    async def log(conn: Connection) -> None:
        await audit(conn, who.username, action, "terminal", terminal_id, before, after)

    await deps_of(request).db.run(log)


async def _terminal(request: Request, terminal_id: str) -> dict[str, Any]:
    row = await deps_of(request).db.fetchrow(
        f"SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = $1", terminal_id
    )
    if row is None:
        raise ApiError("not_found", f"no terminal {terminal_id}")
    return json_ready(row)


@router.post(
    "/agents/{agent_id}/terminals",
    status_code=201,
    summary="Provision a terminal: its credentials file (private key) is in the answer",
)
async def provision(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("terminals.manage"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    try:
        terminal, key = await store.add_terminal(deps.db, agent_id)
    except store.ProvisioningError as exc:
        code = "not_found" if "no agent" in str(exc) else "invalid_state"
        raise ApiError(code, str(exc)) from exc
    creds = Credentials.issue(
        terminal.id, agent_id, key, deps.switch_public_key, deps.terminal_address
    )
    shown = await _terminal(request, terminal.id)
    await _audit(request, who, "terminal.provision", terminal.id, None, shown)
    return shown | {"credentials": creds.as_dict()}


@router.get("/terminals", summary="List terminals (an agent's login sees its own)")
async def list_terminals(
    request: Request,
    who: Annotated[Principal, Depends(allow("terminals.read"))],
    agent_id: str | None = None,
    state: Literal["active", "blocked"] | None = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    agent_id = own_agent(who, agent_id)
    return await terminals_of(deps_of(request).db, agent_id, state, limit, after)


async def terminals_of(
    db: Database, agent_id: str | None, state: str | None, limit: int, after: int | None
) -> dict[str, Any]:
    """One page of terminals (the API's list and the agent portal's)."""
    rows = await db.fetch(
        f"""SELECT {TERMINAL_COLUMNS} FROM terminals
             WHERE ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR state = $2)
               AND id > $3 ORDER BY id LIMIT $4""",
        agent_id,
        state,
        f"T{after:08d}" if after is not None else "",
        limit + 1,
    )
    result = page([json_ready(r) for r in rows], limit)
    result["next"] = int(result["next"][1:]) if result["next"] else None
    return result


async def _set_state(
    request: Request, who: Principal, terminal_id: str, state: str
) -> dict[str, Any]:
    deps = deps_of(request)
    before = await _terminal(request, terminal_id)
    await store.set_terminal_state(deps.db, terminal_id, state)
    after = await _terminal(request, terminal_id)
    await _audit(request, who, f"terminal.{state}", terminal_id, before, after)
    if state == "blocked" and deps.sessions is not None:
        deps.sessions.end_terminal(terminal_id, ErrorCode.TERMINAL_BLOCKED)
    return after


@router.post("/terminals/{terminal_id}/block", summary="Block: refused at once, and at handshake")
async def block(
    terminal_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("terminals.manage"))],
) -> dict[str, Any]:
    return await _set_state(request, who, terminal_id, "blocked")


@router.post("/terminals/{terminal_id}/unblock", summary="Unblock a terminal")
async def unblock(
    terminal_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("terminals.manage"))],
) -> dict[str, Any]:
    return await _set_state(request, who, terminal_id, "active")


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "hi"]


@router.post(
    "/terminals/{terminal_id}/language",
    summary="The language of the SMS its pays send (unless the consumer chose their own)",
)
async def set_language(
    terminal_id: str,
    body: LanguageIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("terminals.manage"))],
) -> dict[str, Any]:
    before = await _terminal(request, terminal_id)
    await deps_of(request).db.execute(
        "UPDATE terminals SET language = $2 WHERE id = $1", terminal_id, body.language
    )
    after = await _terminal(request, terminal_id)
    await _audit(request, who, "terminal.language", terminal_id, before, after)
    return after


@router.post(
    "/terminals/{terminal_id}/rotate-key",
    summary="A new key pair: the new credentials file is in the answer; the old key stops working",
)
async def rotate(
    terminal_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("terminals.manage"))],
) -> dict[str, Any]:
    deps = deps_of(request)
    before = await _terminal(request, terminal_id)
    terminal, key = await store.rotate_key(deps.db, terminal_id)
    if deps.sessions is not None:
        deps.sessions.end_terminal(terminal_id, ErrorCode.SESSION_REPLACED)
    creds = Credentials.issue(
        terminal.id, terminal.agent_id, key, deps.switch_public_key, deps.terminal_address
    )
    after = await _terminal(request, terminal_id)
    await _audit(request, who, "terminal.rotate_key", terminal_id, before, after)
    return after | {"credentials": creds.as_dict()}
