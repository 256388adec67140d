"""/v1/transactions: search pays by switch txn id, biller txn id, terminal reference,
consumer account, agent, channel, date range and status; newest first, paged by
``next``. A partner's pay shows the partner as its terminal and agent, and its
idempotency key as the terminal reference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from switch.admin.auth import Principal
from switch.admin.common import MAX_ID, Limit, RowId, deps_of, in_ist_days, own_agent, page
from switch.admin.errors import ApiError
from switch.admin.roles import allow
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.history.archive import archived_months, archived_pay
from switch.ledger import pay_key

router = APIRouter(prefix="/v1", tags=["transactions"])
PAY_COLUMNS = """id AS txn_id, biller_txn_id, terminal_id, terminal_ref, agent_id, biller_id,
                 consumer_account, amount_paise, state, error_code, channel, created_at,
                 updated_at"""
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


@dataclass(frozen=True)
class Search:
    """The filters of a transaction search (each None: any)."""

    txn_id: int | None = None
    biller_txn_id: str | None = None
    terminal_id: str | None = None
    terminal_ref: str | None = None
    account: str | None = None
    agent_id: str | None = None
    biller_id: str | None = None
    state: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    channel: str | None = None


async def search_pays(
    db: Database, who: Principal, f: Search, limit: int, before: int | None
) -> dict[str, Any]:
    """One page of pays, newest first (the API's search and the office's page)."""
    agent_id = own_agent(who, f.agent_id)
    if f.start and f.end and f.end < f.start:
        raise ApiError("invalid_request", "the range ends before it starts", {"to": "before from"})
    rows = await db.fetch(
        f"""SELECT {PAY_COLUMNS} FROM pays
             WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR biller_txn_id = $2)
               AND ($3::text IS NULL OR terminal_id = $3)
               AND ($4::text IS NULL OR terminal_ref = $4)
               AND ($5::text IS NULL OR consumer_account = $5)
               AND ($6::text IS NULL OR agent_id = $6)
               AND ($7::text IS NULL OR biller_id = $7) AND ($8::text IS NULL OR state = $8)
               AND {in_ist_days("created_at", "$9", "$10")}
               AND ($11::bigint IS NULL OR id < $11)
               AND ($13::text IS NULL OR channel = $13)
             ORDER BY id DESC LIMIT $12""",
        f.txn_id,
        f.biller_txn_id,
        f.terminal_id,
        f.terminal_ref,
        f.account,
        agent_id,
        f.biller_id,
        f.state,
        f.start,
        f.end,
        before,
        limit + 1,
        f.channel,
    )
    found = page([json_ready(r) for r in rows], limit, "txn_id")
    found["archived_months"] = await archived_months(db, f.start, f.end)
    return found


async def pay_story(db: Database, who: Principal, txn_id: int) -> dict[str, Any]:
    """One pay with its hold in the ledger, its SMS and its complaints."""
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


async def hold_of(db: Database, terminal_id: str, terminal_ref: str) -> dict[str, Any] | None:
    """The pay's hold in the ledger: its transfer, with when it was made and resolved."""
    row = await db.fetchrow(
        """SELECT t.id, t.state, t.amount_paise, t.created_at, t.resolved_at
             FROM transfer_keys k JOIN transfers t ON t.id = k.transfer_id
            WHERE k.idem_key = $1""",
        pay_key(terminal_id, terminal_ref),
    )
    return json_ready(row) if row else None


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
    channel: Literal["terminal", "partner"] | None = None,
    limit: Limit = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    f = Search(
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
        channel,
    )
    return await search_pays(deps_of(request).read_db, who, f, limit, before)


@router.get("/transactions/{txn_id}", summary="One transaction, with its SMS and complaints")
async def get(
    txn_id: RowId, request: Request, who: Annotated[Principal, Depends(allow("transactions.read"))]
) -> dict[str, Any]:
    return await pay_story(deps_of(request).db, who, txn_id)
