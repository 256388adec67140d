"""/v1/agents/{id}/wallet: balance and limits, top-up, statement, limits, freeze.

A top-up is idempotent on the bank reference (the ledger's key): the same reference
again answers the first top-up (``replayed``), a different amount under it is
refused. Money moves only through the ledger; every change is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from switch.admin.auth import Principal
from switch.admin.common import MAX_ID, After, Limit, deps_of, in_ist_days, own_agent, page
from switch.admin.errors import ApiError
from switch.admin.models import LimitsIn, TopUpIn
from switch.admin.roles import allow
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.history.archive import archived_months
from switch.pays import topups
from switch.pays.limits import Limits

router = APIRouter(prefix="/v1", tags=["wallets"])


async def _wallet(request: Request, agent_id: str) -> tuple[int, str]:
    row = await deps_of(request).db.fetchrow(
        "SELECT wallet_account_id, state FROM agents WHERE id = $1", agent_id
    )
    if row is None:
        raise ApiError("not_found", f"no agent {agent_id}")
    return row["wallet_account_id"], row["state"]


def _limits_json(limits: Limits) -> dict[str, Any]:
    return {
        "max_balance_paise": limits.max_balance_paise,
        "per_txn_paise": limits.per_txn_paise,
        "per_day_paise": limits.per_day_paise,
        "frozen": limits.frozen,
        "own_limits": limits.own,
    }


@router.get("/agents/{agent_id}/wallet", summary="Balance, limits and freeze")
async def wallet(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("wallets.read"))]
) -> dict[str, Any]:
    own_agent(who, agent_id)
    deps = deps_of(request)
    account_id, _ = await _wallet(request, agent_id)
    balance = await deps.ledger.balance(account_id)
    return {"agent_id": agent_id, "balance_paise": balance} | _limits_json(
        deps.policy.limits(agent_id)
    )


@router.post(
    "/agents/{agent_id}/wallet/topups",
    status_code=201,
    summary="Top up against a bank reference (idempotent on the reference)",
)
async def top_up(
    agent_id: str,
    body: TopUpIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("wallets.topup"))],
) -> dict[str, Any]:
    deps = deps_of(request)
    account_id, state = await _wallet(request, agent_id)
    if state in ("pending_kyc", "closed"):
        raise ApiError("invalid_state", f"agent {agent_id} is {state}")
    try:
        done = await deps.db.run(
            lambda conn: topups.top_up(
                conn,
                agent_id=agent_id,
                wallet_account_id=account_id,
                amount_paise=body.amount_paise,
                bank_ref=body.bank_ref,
                ceiling_paise=deps.policy.limits(agent_id).max_balance_paise,
                actor=who.username,
            )
        )
    except topups.OverCeiling as exc:
        raise ApiError(
            "limit_exceeded", str(exc), {"amount_paise": f"at most {exc.room_paise} now"}
        ) from exc
    except topups.DuplicateReference as exc:
        raise ApiError("duplicate", str(exc), {"bank_ref": "already used"}) from exc
    except topups.TopUpRefused as exc:
        raise ApiError("invalid_request", str(exc)) from exc
    return {"agent_id": agent_id} | done.as_dict()


@router.get(
    "/agents/{agent_id}/wallet/statement",
    summary="Every movement of the wallet, oldest first (paged)",
)
async def statement(
    agent_id: str,
    request: Request,
    who: Annotated[Principal, Depends(allow("wallets.read"))],
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    limit: Limit = 100,
    after: After = None,
) -> dict[str, Any]:
    own_agent(who, agent_id)
    account_id, _ = await _wallet(request, agent_id)
    return await wallet_statement(deps_of(request).db, account_id, start, end, limit, after)


async def wallet_statement(
    db: Database,
    account_id: int,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    after: int | None,
    *,
    newest_first: bool = False,
) -> dict[str, Any]:
    """One page of a wallet's legs, oldest first (the API's and the agent portal's),
    or newest first (the back office's glance; ``after`` then pages backwards)."""
    cursor, order = ("<", "DESC") if newest_first else (">", "")
    rows = await db.fetch(
        f"""SELECT j.transfer_id AS id, j.leg, j.at, t.idem_key AS reference,
                  CASE WHEN j.credit_account_id = $1 THEN j.amount_paise
                       ELSE -j.amount_paise END AS amount_paise
             FROM journal j JOIN transfers t ON t.id = j.transfer_id
            WHERE (j.debit_account_id = $1 OR j.credit_account_id = $1)
              AND {in_ist_days("j.at", "$2", "$3")}
              AND j.transfer_id {cursor} $4
            ORDER BY j.transfer_id {order}, j.leg {order} LIMIT $5""",
        account_id,
        start,
        end,
        after if after is not None else (MAX_ID if newest_first else 0),
        limit + 1,
    )
    found = page([json_ready(r) for r in rows], limit)
    found["archived_months"] = await archived_months(db, start, end)
    return found


async def save_limits(
    db: Database, actor: str, agent_id: str, limits: Limits, before: Limits, action: str
) -> None:
    """Write an agent's limits (and freeze) with its audit entry (API and CLI)."""

    async def save(conn: Connection) -> None:
        async with conn.transaction():
            if not await conn.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id):
                raise ApiError("not_found", f"no agent {agent_id}")
            await conn.execute(
                """INSERT INTO wallet_limits (agent_id, max_balance_paise, per_txn_paise,
                       per_day_paise, frozen, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (agent_id) DO UPDATE SET max_balance_paise = $2,
                       per_txn_paise = $3, per_day_paise = $4, frozen = $5, updated_by = $6,
                       updated_at = now()""",
                agent_id,
                limits.max_balance_paise,
                limits.per_txn_paise,
                limits.per_day_paise,
                limits.frozen,
                actor,
            )
            await audit(
                conn,
                actor,
                action,
                "agent",
                agent_id,
                _limits_json(before),
                _limits_json(limits) | {"own_limits": True},
            )

    await db.run(save)


async def _save_limits(
    request: Request, who: Principal, agent_id: str, limits: Limits, action: str
) -> dict[str, Any]:
    deps = deps_of(request)
    await save_limits(deps.db, who.username, agent_id, limits, deps.policy.limits(agent_id), action)
    await deps.policy.refresh()  # this process at once; others within limits_refresh_s
    return {"agent_id": agent_id} | _limits_json(deps.policy.limits(agent_id))


@router.put("/agents/{agent_id}/wallet/limits", summary="Set the wallet's limits")
async def set_limits(
    agent_id: str,
    body: LimitsIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("wallets.limits"))],
) -> dict[str, Any]:
    if body.per_txn_paise > body.per_day_paise:
        raise ApiError(
            "invalid_request",
            "per-transaction limit above the daily one",
            {"per_txn_paise": "must not exceed per_day_paise"},
        )
    frozen = deps_of(request).policy.limits(agent_id).frozen
    limits = Limits(body.max_balance_paise, body.per_txn_paise, body.per_day_paise, frozen, True)
    return await _save_limits(request, who, agent_id, limits, "wallet.limits")


async def _freeze(request: Request, who: Principal, agent_id: str, frozen: bool) -> dict[str, Any]:
    current = deps_of(request).policy.limits(agent_id)
    limits = Limits(
        current.max_balance_paise, current.per_txn_paise, current.per_day_paise, frozen, True
    )
    return await _save_limits(
        request, who, agent_id, limits, "wallet.freeze" if frozen else "wallet.unfreeze"
    )


@router.post("/agents/{agent_id}/wallet/freeze", summary="Freeze: new pays are refused")
async def freeze(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("wallets.limits"))]
) -> dict[str, Any]:
    return await _freeze(request, who, agent_id, True)


@router.post("/agents/{agent_id}/wallet/unfreeze", summary="Lift a freeze")
async def unfreeze(
    agent_id: str, request: Request, who: Annotated[Principal, Depends(allow("wallets.limits"))]
) -> dict[str, Any]:
    return await _freeze(request, who, agent_id, False)
