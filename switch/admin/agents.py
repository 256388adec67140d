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

from switch.admin.auth import Principal, new_password
from switch.admin.common import After, Limit, deps_of, own_agent, page
from switch.admin.errors import ApiError
from switch.admin.models import AgentIn
from switch.admin.roles import allow
from switch.admin.users import create_user
from switch.db import Connection
from switch.db.audit import audit
from switch.db.rows import json_ready
from switch.ledger import AccountKind

router = APIRouter(prefix="/v1", tags=["agents"])
DocumentKind = Literal[
    "photo", "pan_card", "address_proof", "bank_proof", "shop_photo", "deposit_slip", "other"
]
MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"%PDF-": "application/pdf",
}
KYC_FOR = frozenset({"onboarding", "admin", "auditor", "finance"})  # see bank and PAN in full
AGENT_SQL = """SELECT a.id, a.name, a.mobile, a.fps_id, a.state, a.region, a.district,
                      a.created_at, k.email, k.date_of_birth, k.pan, k.gstin, k.bank_account,
                      k.ifsc, k.residential_address, k.shop_address, k.submitted_by,
                      k.submitted_at, k.approved_by, k.approved_at
                 FROM agents a LEFT JOIN agent_kyc k ON k.agent_id = a.id"""


def _shown(row: asyncpg.Record | None, who: Principal) -> dict[str, Any]:
    agent = json_ready(row)
    if who.role not in KYC_FOR and agent:
        for key in ("pan", "bank_account"):
            if agent.get(key):
                agent[key] = "*" * (len(agent[key]) - 4) + agent[key][-4:]
    return agent


async def _agent(conn: Connection, agent_id: str, *, lock: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(
        AGENT_SQL + " WHERE a.id = $1" + (" FOR UPDATE OF a" if lock else ""), agent_id
    )
    if row is None:
        raise ApiError("not_found", f"no agent {agent_id}")
    return row


@router.post("/agents", status_code=201, summary="Enter an agent's application (pending KYC)")
async def apply(
    body: AgentIn, request: Request, who: Annotated[Principal, Depends(allow("agents.create"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    agent_no = await deps.db.fetchval("SELECT nextval('agent_no')")
    agent_id = f"AG{agent_no:06d}"
    wallet = await deps.ledger.open_account(AccountKind.WALLET, f"wallet:{agent_id}", body.name)

    async def insert(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            taken = await conn.fetchrow(
                """SELECT (SELECT 1 FROM agent_kyc WHERE pan = $1) AS pan,
                          (SELECT 1 FROM agents WHERE fps_id = $2) AS fps_id""",
                body.pan,
                body.fps_id,
            )
            assert taken is not None
            fields = {k: f"an agent with this {k} exists" for k in ("pan", "fps_id") if taken[k]}
            if fields:
                raise ApiError("duplicate", "already registered", fields)
            try:
                await conn.execute(
                    """INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state,
                                           region, district)
                       VALUES ($1, $2, $3, $4, $5, 'pending_kyc', $6, $7)""",
                    agent_id,
                    body.name,
                    body.mobile,
                    body.fps_id,
                    wallet.id,
                    body.region,
                    body.district,
                )
                await conn.execute(
                    """INSERT INTO agent_kyc (agent_id, email, date_of_birth, pan, gstin,
                           bank_account, ifsc, residential_address, shop_address, submitted_by)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                    agent_id,
                    str(body.email),
                    body.date_of_birth,
                    body.pan,
                    body.gstin,
                    body.bank_account,
                    body.ifsc,
                    body.residential_address,
                    body.shop_address,
                    who.username,
                )
            except asyncpg.UniqueViolationError as exc:  # a race with another application
                raise ApiError("duplicate", "already registered (PAN or FPS id)") from exc
            agent = json_ready(await _agent(conn, agent_id))
            await audit(conn, who.username, "agent.apply", "agent", agent_id, None, agent)
            return agent

    return await deps.db.run(insert)


@router.get("/agents", summary="List agents (an agent's login sees itself)")
async def list_agents(
    request: Request,
    who: Annotated[Principal, Depends(allow("agents.read"))],
    state: Literal["pending_kyc", "approved", "active", "blocked", "closed"] | None = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    only = own_agent(who, None)
    rows = await deps_of(request).db.fetch(
        AGENT_SQL
        + """ WHERE ($1::text IS NULL OR a.state = $1) AND ($2::text IS NULL OR a.id = $2)
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
    return _shown(await deps_of(request).db.run(lambda c: _agent(c, agent_id)), who)


@router.post(
    "/agents/{agent_id}/documents",
    status_code=201,
    summary="Attach a photo or document (JPEG, PNG or PDF; size-limited)",
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
    content_type = next((t for magic, t in MAGIC.items() if content.startswith(magic)), None)
    if content_type is None:
        raise ApiError(
            "unsupported_type", "only JPEG, PNG or PDF", {"file": "not JPEG, PNG or PDF"}
        )
    digest = hashlib.sha256(content).hexdigest()
    await trio.to_thread.run_sync(_store, deps.documents_dir, digest, content)

    async def record(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            await _agent(conn, agent_id)
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
    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await _agent(conn, agent_id, lock=True)
            _expect(before, "pending_kyc")
            if before["submitted_by"] == who.username:
                raise ApiError("four_eyes", "a second person must approve what you entered")
            await conn.execute(
                """UPDATE agent_kyc SET approved_by = $2, approved_at = now()
                    WHERE agent_id = $1""",
                agent_id,
                who.username,
            )
            await conn.execute("UPDATE agents SET state = 'approved' WHERE id = $1", agent_id)
            after = await _agent(conn, agent_id)
            await audit(
                conn,
                who.username,
                "agent.approve",
                "agent",
                agent_id,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after)

    return await deps_of(request).db.run(change)


@router.post(
    "/agents/{agent_id}/activate",
    summary="Activate an approved agent: its login is created and sent by SMS",
)
async def activate(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("agents.activate"))]
) -> dict[str, Any]:
    deps = deps_of(request)
    agent = await deps.db.run(lambda c: _agent(c, agent_id))
    _expect(agent, "approved")
    password = new_password()
    username = agent_id.lower()
    await create_user(
        deps.db, deps.auth, who.username, username, "agent", agent["mobile"], password, agent_id
    )

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await _agent(conn, agent_id, lock=True)
            _expect(before, "approved")
            await conn.execute("UPDATE agents SET state = 'active' WHERE id = $1", agent_id)
            await conn.execute(
                "INSERT INTO sms_outbox (mobile, body) VALUES ($1, $2)",
                before["mobile"],
                f"Welcome to the bill switch, {before['name']}. Portal login: {username} "
                f"password: {password} (change it at first login).",
            )
            after = await _agent(conn, agent_id)
            await audit(
                conn,
                who.username,
                "agent.activate",
                "agent",
                agent_id,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after) | {"login": username}

    return await deps.db.run(change)


async def _set_state(
    request: Request, who: Principal, agent_id: str, allowed_from: tuple[str, ...], to: str
) -> dict[str, Any]:
    deps = deps_of(request)

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await _agent(conn, agent_id, lock=True)
            _expect(before, *allowed_from)
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
            after = await _agent(conn, agent_id)
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


def _expect(agent: asyncpg.Record, *states: str) -> None:
    if agent["state"] not in states:
        raise ApiError(
            "invalid_state", f"agent {agent['id']} is {agent['state']}, not {' or '.join(states)}"
        )
