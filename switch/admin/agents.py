"""/v1/agents: onboarding with KYC, documents, four-eyes approval, activation, blocking.

States: pending_kyc -> approved -> active -> blocked <-> active; active|blocked -> closed.
Approval is by a second staff user, never the one who entered the application (checked
here and by the database). Activation opens the agent's login and sends the
credentials by SMS. Every change is audited with the agent before and after.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
import trio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from switch.admin import onboarding
from switch.admin.auth import Principal
from switch.admin.common import After, Limit, deps_of, own_agent, page
from switch.admin.documents import NotADocument, check_document
from switch.admin.errors import ApiError
from switch.admin.models import AgentIn, ReasonIn
from switch.admin.onboarding import AGENT_SQL, agent_row, expect
from switch.admin.roles import allow
from switch.db import Connection
from switch.db.audit import audit
from switch.db.rows import json_ready

router = APIRouter(prefix="/v1", tags=["agents"])
DocumentKind = Literal[
    "photo", "pan_card", "address_proof", "bank_proof", "shop_photo", "deposit_slip", "other"
]
KYC_FOR = frozenset({"onboarding", "admin", "auditor", "finance"})  # see bank and PAN in full


def _shown(row: asyncpg.Record | None, who: Principal) -> dict[str, Any]:
    agent = json_ready(row)
    if who.role not in KYC_FOR and agent:
        for key in ("pan", "bank_account"):
            if agent.get(key):
                agent[key] = "*" * (len(agent[key]) - 4) + agent[key][-4:]
    return agent


@router.post("/agents", status_code=201, summary="Enter an agent's application (pending KYC)")
async def apply(
    body: AgentIn, request: Request, who: Annotated[Principal, Depends(allow("agents.create"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    return await onboarding.apply(deps.db, deps.ledger, who.username, body)


@router.get("/agents", summary="List agents (an agent's login sees itself)")
async def list_agents(
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.read"))],
    state: Literal["pending_kyc", "returned", "rejected", "approved", "active", "blocked", "closed"]
    | None = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    only = own_agent(who, None)
    rows = await deps_of(request).db.fetch(
        AGENT_SQL
        + """ WHERE a.kind = 'agent' AND ($1::text IS NULL OR a.state = $1)
                          AND ($2::text IS NULL OR a.id = $2)
                          AND a.id > $3 ORDER BY a.id LIMIT $4""",
        state,
        only,
        f"AG{after:06d}" if after is not None else "",
        limit + 1,
    )
    items = [_shown(r, who) for r in rows]
    result = page(items, limit)
    result["next"] = int(result["next"][2:]) if result["next"] else None
    return result


@router.get("/agents/{agent_id}", summary="One agent, with its KYC")
async def get(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.read"))]
) -> dict[str, Any]:
    own_agent(who, agent_id)
    return _shown(await deps_of(request).db.run(lambda c: agent_row(c, agent_id)), who)


@router.post(
    "/agents/{agent_id}/documents",
    status_code=201,
    summary="Attach a photo or document (a JPEG or PNG image, re-encoded without its "
    "metadata, or a PDF; each parsed; size-limited)",
)
async def upload(
    agent_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.documents"))],
    kind: Annotated[DocumentKind, Form()],
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    deps = deps_of(request)
    limit = deps.cfg.admin.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ApiError("too_large", f"a document is at most {limit} bytes", {"file": "too large"})
    await deps.db.run(lambda conn: agent_row(conn, agent_id))  # 404 before anything is kept
    try:  # decoding is CPU work: off the event loop
        content_type, content = await trio.to_thread.run_sync(check_document, content)
    except NotADocument as exc:
        raise ApiError("unsupported_type", str(exc), {"file": str(exc)}) from exc
    digest = hashlib.sha256(content).hexdigest()
    await trio.to_thread.run_sync(_store, deps.documents_dir, digest, content)

    async def record(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            await agent_row(conn, agent_id)
            row = await conn.fetchrow(
                """INSERT INTO agent_documents (agent_id, kind, content_type, size_bytes,
                       sha256, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
                agent_id,
                kind,
                content_type,
                len(content),
                digest,
                who.username,
            )
            document = json_ready(row)
            await audit(conn, who.username, "agent.document", "agent", agent_id, None, document)
            return document

    return await deps.db.run(record)


def _store(directory: Path, digest: str, content: bytes) -> None:
    """Content-addressed: the file is named by its SHA-256 (the same bytes, one file)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / digest
    if target.exists():
        return
    tmp = directory / f".{digest}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


@router.get("/agents/{agent_id}/documents", summary="An agent's documents (SHA-256, type, size)")
async def documents(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.read"))]
) -> dict[str, Any]:
    own_agent(who, agent_id)
    rows = await deps_of(request).db.fetch(
        "SELECT * FROM agent_documents WHERE agent_id = $1 ORDER BY id", agent_id
    )
    return {"items": [json_ready(r) for r in rows]}


@router.post("/agents/{agent_id}/approve", summary="Approve the KYC (not by whoever entered it)")
async def approve(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.approve"))]
) -> dict[str, Any]:
    return await onboarding.approve(deps_of(request).db, who.username, agent_id)


@router.post(
    "/agents/{agent_id}/reject",
    summary="Reject the application for good, with the reason (not by whoever entered it)",
)
async def reject(
    agent_id: str,
    body: ReasonIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.approve"))],
) -> dict[str, Any]:
    return await onboarding.review(
        deps_of(request).db, who.username, agent_id, "rejected", body.reason
    )


@router.post(
    "/agents/{agent_id}/send-back",
    summary="Send the application back to onboarding, saying what to correct",
)
async def send_back(
    agent_id: str,
    body: ReasonIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.approve"))],
) -> dict[str, Any]:
    return await onboarding.review(
        deps_of(request).db, who.username, agent_id, "returned", body.reason
    )


@router.put(
    "/agents/{agent_id}/kyc",
    summary="Correct a returned application: it waits for review again (by someone else)",
)
async def correct(
    agent_id: str,
    body: AgentIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.create"))],
) -> dict[str, Any]:
    return await onboarding.correct(deps_of(request).db, who.username, agent_id, body)


@router.post(
    "/agents/{agent_id}/activate",
    summary="Activate an approved agent: its login is created and sent by SMS",
)
async def activate(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.activate"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    return await onboarding.activate(deps.db, deps.auth, who.username, agent_id)


async def _set_state(
    request: Request, who: Principal, agent_id: str, allowed_from: tuple[str, ...], to: str
) -> dict[str, Any]:
    deps = deps_of(request)

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await agent_row(conn, agent_id, lock=True)
            expect(before, *allowed_from)
            if to == "closed":
                balance = await conn.fetchval(
                    """SELECT w.balance_paise FROM agents a
                         JOIN accounts w ON w.id = a.wallet_account_id WHERE a.id = $1""",
                    agent_id,
                )
                if balance:
                    raise ApiError(
                        "invalid_state",
                        f"the wallet holds {balance} paise: pay it out before closing",
                    )
                await conn.execute("UPDATE users SET disabled = true WHERE agent_id = $1", agent_id)
            await conn.execute("UPDATE agents SET state = $2 WHERE id = $1", agent_id, to)
            after = await agent_row(conn, agent_id)
            await audit(
                conn,
                who.username,
                f"agent.{to}",
                "agent",
                agent_id,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after)

    result = await deps.db.run(change)
    if to in ("blocked", "closed") and deps.sessions is not None:
        deps.sessions.end_agent(agent_id)
    return result


@router.post("/agents/{agent_id}/block", summary="Block: its terminals are refused at once")
async def block(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.block"))]
) -> dict[str, Any]:
    return await _set_state(request, who, agent_id, ("active",), "blocked")


@router.post("/agents/{agent_id}/unblock", summary="Unblock a blocked agent")
async def unblock(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.block"))]
) -> dict[str, Any]:
    return await _set_state(request, who, agent_id, ("blocked",), "active")


@router.post("/agents/{agent_id}/close", summary="Close an agent (its wallet must be empty)")
async def close(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.block"))]
) -> dict[str, Any]:
    return await _set_state(request, who, agent_id, ("active", "blocked"), "closed")
