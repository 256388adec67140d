"""/v1/transactions: search pays by switch txn id, biller txn id, terminal reference,
consumer account, agent, date range and status; newest first, paged by ``next``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from switch.admin.auth import Principal
from switch.admin.common import MAX_ID, Limit, RowId, deps_of, in_ist_days, own_agent, page
from switch.admin.errors import ApiError
from switch.admin.roles import allow
from switch.db.rows import json_ready
from switch.history.archive import archived_months, archived_pay

router = APIRouter(prefix="/v1", tags=["transactions"])
PAY_COLUMNS = """id AS txn_id, biller_txn_id, terminal_id, terminal_ref, agent_id, biller_id,
                 consumer_account, amount_paise, state, error_code, created_at, updated_at"""
State = Literal[
    "received",
    "reserved",
    "sent",
    "confirmed",
    "rejected",
    "unknown",
    "reversing",
    "posted",
    "voided",
]


@router.get("/transactions", summary="Search transactions (newest first)")
async def search(
    request: Request,
    who: Annotated[Principal, Depends(allow("transactions.read"))],
    txn_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    biller_txn_id: Annotated[str | None, Query(max_length=64)] = None,
    terminal_id: Annotated[str | None, Query(max_length=20)] = None,
    terminal_ref: Annotated[str | None, Query(max_length=64)] = None,
    account: Annotated[str | None, Query(max_length=40, description="consumer account")] = None,
    agent_id: Annotated[str | None, Query(max_length=20)] = None,
    biller_id: Annotated[str | None, Query(max_length=40)] = None,
    state: State | None = None,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    limit: Limit = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    agent_id = own_agent(who, agent_id)
    if start and end and end < start:
        raise ApiError("invalid_request", "the range ends before it starts", {"to": "before from"})
    rows = await deps_of(request).read_db.fetch(
        f"""SELECT {PAY_COLUMNS} FROM pays
             WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR biller_txn_id = $2)
               AND ($3::text IS NULL OR terminal_id = $3)
               AND ($4::text IS NULL OR terminal_ref = $4)
               AND ($5::text IS NULL OR consumer_account = $5)
               AND ($6::text IS NULL OR agent_id = $6)
               AND ($7::text IS NULL OR biller_id = $7) AND ($8::text IS NULL OR state = $8)
               AND {in_ist_days("created_at", "$9", "$10")}
               AND ($11::bigint IS NULL OR id < $11)
             ORDER BY id DESC LIMIT $12""",
        txn_id,
        biller_txn_id,
        terminal_id,
        terminal_ref,
        account,
        agent_id,
        biller_id,
        state,
        start,
        end,
        before,
        limit + 1,
    )
    found = page([json_ready(r) for r in rows], limit, "txn_id")
    found["archived_months"] = await archived_months(deps_of(request).read_db, start, end)
    return found


@router.get("/transactions/{txn_id}", summary="One transaction, with its SMS and complaints")
async def get(
    txn_id: RowId, request: Request, who: Annotated[Principal, Depends(allow("transactions.read"))]
) -> dict[str, Any]:
    db = deps_of(request).db
    row = await db.fetchrow(f"SELECT {PAY_COLUMNS} FROM pays WHERE id = $1", txn_id)
    if row is None and who.role != "agent" and (where := await archived_pay(db, txn_id)):
        raise ApiError("not_found", f"transaction {txn_id} is not in the database: {where}")
    if row is None or not who.sees_agent(row["agent_id"]):
        raise ApiError("not_found", f"no transaction {txn_id}")
    sms = await db.fetch(
        "SELECT state, attempts, sent_at FROM sms_outbox WHERE pay_id = $1", txn_id
    )
    complaints = await db.fetch(
        "SELECT id, state, category FROM complaints WHERE pay_id = $1", txn_id
    )
    return json_ready(row) | {
        "sms": [json_ready(s) for s in sms],
        "complaints": [json_ready(c) for c in complaints],
    }
