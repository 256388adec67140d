"""/v1/complaints: grievance redressal for agents and consumers, and claims.

States and who moves them:

    logged --assign--> assigned --resolve--> resolved --close--> closed
       \\------------------^  \\--escalate--> escalated --assign/resolve--> ...

Each complaint has a turnaround deadline by kind (``complaint_tat_*_h``); past it,
an open complaint is escalated automatically (``Escalator``) and given a new
deadline. A resolution may refund the agent through the ledger (finance or admin
only), keyed by the complaint, so it happens once. Only a posted pay is refunded (a
voided pay's money is already back in the wallet): its money is at the biller, so a
refund here is a write-off the switch pays out of its funds (funding -> wallet), and
the resolution must say so (``write_off``); money the biller gives back comes through
reconciliation's ``refund_agent`` instead. However many complaints one pay has, its
refunds never add up to more than its amount (switch/pays/refunds.py, in the
database); a second complaint about a pay is linked to the first (``linked_to``).
Every step is in the complaint's append-only history and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Request

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, RowId, deps_of, own_agent, page
from switch.admin.complaint_refunds import refund_complaint
from switch.admin.errors import ApiError
from switch.admin.models import AssignIn, ComplaintIn, NoteIn, ResolveIn
from switch.admin.roles import PERMISSIONS, allow
from switch.config import AdminConfig
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.periodic import every
from switch.db.rows import json_ready

router = APIRouter(prefix="/v1", tags=["complaints"])
OPEN = ("logged", "assigned", "escalated")


def tat_s(cfg: AdminConfig, kind: str) -> float:
    hours = (
        cfg.complaint_tat_transaction_h if kind == "transaction" else cfg.complaint_tat_service_h
    )
    return hours * 3600


async def _complaint(conn: Connection, complaint_id: RowId, who: Principal) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM complaints WHERE id = $1 FOR UPDATE", complaint_id)
    if row is None or not who.sees_agent(row["agent_id"]):
        raise ApiError("not_found", f"no complaint {complaint_id}")
    return row


async def _event(
    conn: Connection,
    complaint_id: RowId,
    actor: str,
    action: str,
    before: str | None,
    after: str,
    note: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO complaint_events (complaint_id, actor, action, from_state, to_state, note)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        complaint_id,
        actor,
        action,
        before,
        after,
        note,
    )


async def log_complaint(
    conn: Connection,
    cfg: AdminConfig,
    *,
    kind: str,
    category: str,
    pay_id: int | None,
    agent_id: str | None,
    description: str,
    raised_by: str,
    partner_ref: str | None = None,
) -> asyncpg.Record:
    """Insert a complaint, ``logged``, with its first event and audit entry (in the
    caller's transaction); a second complaint about one pay is linked to the first."""
    row = await conn.fetchrow(
        """INSERT INTO complaints (kind, category, pay_id, agent_id, description,
               raised_by, due_at, linked_to, partner_ref)
           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7),
                   (SELECT min(id) FROM complaints WHERE pay_id = $3), $8)
           RETURNING *""",
        kind,
        category,
        pay_id,
        agent_id,
        description,
        raised_by,
        tat_s(cfg, kind),
        partner_ref,
    )
    assert row is not None
    await _event(conn, row["id"], raised_by, "log", None, "logged")
    await audit(
        conn, raised_by, "complaint.log", "complaint", str(row["id"]), None, json_ready(row)
    )
    return row


@router.post("/complaints", status_code=201, summary="Register a complaint")
async def register(
    body: ComplaintIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.create"))],
) -> dict[str, Any]:
    deps = deps_of(request)

    async def insert(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            agent_id = own_agent(who, body.agent_id)
            if body.kind == "transaction":
                if body.pay_id is None:
                    raise ApiError(
                        "invalid_request",
                        "a transaction complaint names its pay",
                        {"pay_id": "required for kind transaction"},
                    )
                pay_agent = await conn.fetchval(
                    "SELECT agent_id FROM pays WHERE id = $1", body.pay_id
                )
                if pay_agent is None or not who.sees_agent(pay_agent):
                    raise ApiError(
                        "not_found",
                        f"no transaction {body.pay_id}",
                        {"pay_id": "no such transaction"},
                    )
                agent_id = pay_agent
            elif body.pay_id is not None:
                raise ApiError(
                    "invalid_request",
                    "a service complaint names no pay",
                    {"pay_id": "only for kind transaction"},
                )
            if agent_id is not None and not await conn.fetchval(
                "SELECT 1 FROM agents WHERE id = $1", agent_id
            ):
                raise ApiError("not_found", f"no agent {agent_id}", {"agent_id": "no such agent"})
            row = await log_complaint(
                conn,
                deps.cfg.admin,
                kind=body.kind,
                category=body.category,
                pay_id=body.pay_id,
                agent_id=agent_id,
                description=body.description,
                raised_by=who.username,
            )
            return json_ready(row)

    return await deps.db.run(insert)


@router.get("/complaints", summary="List complaints (an agent's login sees its own)")
async def list_complaints(
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.read"))],
    state: Literal["logged", "assigned", "escalated", "resolved", "closed"] | None = None,
    agent_id: str | None = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    agent_id = own_agent(who, agent_id)
    rows = await deps_of(request).db.fetch(
        """SELECT * FROM complaints WHERE ($1::text IS NULL OR state = $1)
              AND ($2::text IS NULL OR agent_id = $2) AND id > $3 ORDER BY id LIMIT $4""",
        state,
        agent_id,
        after or 0,
        limit + 1,
    )
    return page([json_ready(r) for r in rows], limit)


@router.get("/complaints/{complaint_id}", summary="A complaint and its history")
async def get(
    complaint_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.read"))],
) -> dict[str, Any]:
    async def read(conn: Connection) -> dict[str, Any]:
        row = await conn.fetchrow("SELECT * FROM complaints WHERE id = $1", complaint_id)
        if row is None or not who.sees_agent(row["agent_id"]):
            raise ApiError("not_found", f"no complaint {complaint_id}")
        events = await conn.fetch(
            "SELECT * FROM complaint_events WHERE complaint_id = $1 ORDER BY id", complaint_id
        )
        return json_ready(row) | {"history": [json_ready(e) for e in events]}

    return await deps_of(request).db.run(read)


async def _move(
    request: Request,
    who: Principal,
    complaint_id: RowId,
    action: str,
    allowed: tuple[str, ...],
    to: str,
    note: str | None = None,
    **changes: Any,
) -> dict[str, Any]:
    deps = deps_of(request)

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await _complaint(conn, complaint_id, who)
            if before["state"] not in allowed:
                raise ApiError(
                    "invalid_state",
                    f"complaint {complaint_id} is {before['state']}; {action} needs "
                    f"{' or '.join(allowed)}",
                )
            refund = changes.pop("refund_paise", None)
            write_off = changes.pop("write_off", False)
            if refund:
                await refund_complaint(conn, before, refund, write_off)
                changes["refund_paise"] = refund
                changes["write_off"] = True
            sets = "".join(f", {k} = ${n + 3}" for n, k in enumerate(changes))
            after = await conn.fetchrow(
                f"""UPDATE complaints SET state = $2, updated_at = now(){sets}
                     WHERE id = $1 RETURNING *""",
                complaint_id,
                to,
                *changes.values(),
            )
            await _event(conn, complaint_id, who.username, action, before["state"], to, note)
            await audit(
                conn,
                who.username,
                f"complaint.{action}",
                "complaint",
                str(complaint_id),
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after)

    return await deps.db.run(change)


@router.post("/complaints/{complaint_id}/assign", summary="Assign to a staff user")
async def assign(
    complaint_id: RowId,
    body: AssignIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.handle"))],
) -> dict[str, Any]:
    role = await deps_of(request).db.fetchval(
        "SELECT role FROM users WHERE username = $1 AND NOT disabled", body.to
    )
    if role is None or role == "agent":
        raise ApiError("not_found", f"no staff user {body.to}", {"to": "no such staff user"})
    return await _move(
        request, who, complaint_id, "assign", OPEN, "assigned", f"to {body.to}", assigned_to=body.to
    )


@router.post("/complaints/{complaint_id}/escalate", summary="Escalate (a new deadline)")
async def escalate(
    complaint_id: RowId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.handle"))],
) -> dict[str, Any]:
    return await _move(request, who, complaint_id, "escalate", OPEN, "escalated", body.note)


@router.post(
    "/complaints/{complaint_id}/resolve",
    summary="Resolve; a refund to the agent's wallet needs finance or admin",
)
async def resolve(
    complaint_id: RowId,
    body: ResolveIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.read"))],
) -> dict[str, Any]:
    needed = "complaints.refund" if body.refund_paise else "complaints.handle"
    if who.role not in PERMISSIONS[needed]:
        raise ApiError("forbidden", f"role {who.role} may not {needed}")
    return await _move(
        request,
        who,
        complaint_id,
        "resolve",
        OPEN,
        "resolved",
        body.resolution,
        resolution=body.resolution,
        refund_paise=body.refund_paise,
        write_off=body.write_off,
    )


@router.post("/complaints/{complaint_id}/close", summary="Close a resolved complaint")
async def close(
    complaint_id: RowId,
    body: NoteIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("complaints.create"))],
) -> dict[str, Any]:
    return await _move(request, who, complaint_id, "close", ("resolved",), "closed", body.note)


class Escalator:
    """Escalates open complaints past their deadline, every ``complaint_check_interval_s``
    (in every switch process; the update is one statement, so each is escalated once)."""

    def __init__(self, db: Database, cfg: AdminConfig) -> None:
        self._db = db
        self._cfg = cfg
        self.escalated = 0

    async def run(self) -> None:
        await every(
            "complaint escalation", self._cfg.complaint_check_interval_s, 60.0, self.escalate_due
        )

    async def escalate_due(self) -> int:
        async def run(conn: Connection) -> int:
            async with conn.transaction():
                rows = await conn.fetch(
                    """UPDATE complaints c SET state = 'escalated', escalations = escalations + 1,
                              updated_at = now(),
                              due_at = now() + make_interval(secs => CASE c.kind
                                  WHEN 'transaction' THEN $1::float8 ELSE $2::float8 END)
                        WHERE id IN (SELECT id FROM complaints
                                      WHERE state IN ('logged', 'assigned', 'escalated')
                                        AND due_at < now() ORDER BY due_at LIMIT 500
                                        FOR UPDATE SKIP LOCKED)
                       RETURNING c.id, c.escalations""",
                    tat_s(self._cfg, "transaction"),
                    tat_s(self._cfg, "service"),
                )
                for r in rows:
                    await _event(
                        conn,
                        r["id"],
                        "system",
                        "escalate",
                        None,
                        "escalated",
                        f"turnaround time passed (escalation {r['escalations']})",
                    )
                return len(rows)

        count = await self._db.run(run)
        self.escalated += count
        return count
