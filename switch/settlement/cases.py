"""Reconciliation cases: list them, and resolve one (money only through the ledger).

Resolving is one database transaction: lock the case, apply its ledger transfers (if
the resolution moves money), record the adjustment the biller's next settlement
nets, mark the case resolved, and append the audit entry. All of it or none of it;
two people resolving the same case at once get one resolution and one error.

What each resolution moves, and why (commission and fee follow the money the biller
really kept): switch/settlement/resolutions.py. The transfers, keyed
``recon:<case id>:<leg>``:

leg          from                     to
refund       biller's receivable      agent's wallet
fee_back     switch's fee income      biller's receivable
charge       agent's wallet           biller's payable   (refused if it cannot cover it)
commission   biller's payable         agent's wallet
fee          biller's payable         switch's fee income
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from switch.config import BillerConfig
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import store as ledger_store
from switch.ledger.types import FEE_INCOME_CODE
from switch.pays.refunds import RefundTooLarge, count_refund
from switch.settlement.resolutions import (
    RESOLUTIONS,
    CaseError,
    Plan,
    SettledLine,
    Terms,
    plan,
)
from switch.settlement.store import payable_code, receivable_code

__all__ = ["RESOLUTIONS", "CaseError", "Resolved", "list_cases", "resolve"]
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Resolved:
    case: dict[str, Any]
    plan: Plan

    def as_dict(self) -> dict[str, Any]:
        """The case as resolved, and the money its resolution moved."""
        return self.case | {"money": self.plan.as_dict()}


async def list_cases(
    db: Database,
    state: str | None = "open",
    biller_id: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """Cases oldest first, from the one after ``after_id``."""
    rows = await db.fetch(
        """SELECT * FROM recon_cases WHERE ($1::text IS NULL OR state = $1)
              AND ($2::text IS NULL OR biller_id = $2) AND id > $4 ORDER BY id LIMIT $3""",
        state,
        biller_id,
        limit,
        after_id,
    )
    return [json_ready(r) for r in rows]


async def resolve(
    db: Database,
    case_id: int,
    resolution: str,
    actor: str,
    note: str,
    billers: Sequence[BillerConfig],
) -> Resolved:
    """Resolve the case; ``billers`` give the commercial terms a force-post pays on."""
    if resolution not in RESOLUTIONS:
        raise CaseError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    if not actor.strip():
        raise CaseError("who resolves it must be named (--by)")
    if not note.strip() or len(note) > MAX_NOTE_CHARS:
        raise CaseError(f"a note of 1-{MAX_NOTE_CHARS} characters is required")
    terms = {b.id: Terms(b.commission_bps, b.fee_paise) for b in billers}
    return await db.run(
        lambda c: _resolve(c, case_id, resolution, actor.strip(), note.strip(), terms)
    )


async def _resolve(
    conn: Connection,
    case_id: int,
    resolution: str,
    actor: str,
    note: str,
    terms: dict[str, Terms],
) -> Resolved:
    async with conn.transaction():
        case = await conn.fetchrow("SELECT * FROM recon_cases WHERE id = $1 FOR UPDATE", case_id)
        if case is None:
            raise CaseError(f"no case {case_id}")
        if case["state"] != "open":
            raise CaseError(f"case {case_id} is already resolved ({case['resolution']})")
        biller_terms = terms.get(case["biller_id"])
        if biller_terms is None and resolution != "no_money":
            raise CaseError(
                f"case {case_id}: biller {case['biller_id']} is not configured: no terms "
                "to reckon commission and fee with (no_money still resolves it)"
            )
        pay, settled = await _pay_and_its_line(conn, case["pay_id"])
        moves = plan(
            case_id,
            case["kind"],
            resolution,
            case["amount_paise"],
            case["biller_amount_paise"],
            pay["amount_paise"] if pay else None,
            settled,
            biller_terms or Terms(0, 0),  # (no_money: nothing to reckon)
        )
        if pay is not None:
            await _move_money(conn, case, moves, pay["wallet_account_id"])
        return await _close_case(conn, case, moves, resolution, actor, note)


async def _pay_and_its_line(
    conn: Connection, pay_id: int | None
) -> tuple[asyncpg.Record | None, SettledLine | None]:
    """The case's pay (with its agent's wallet), and its line if its window settled."""
    pay = await conn.fetchrow(
        """SELECT p.amount_paise, a.wallet_account_id, i.commission_paise, i.fee_paise,
                  w.state = 'settled' AS settled
             FROM pays p JOIN agents a ON a.id = p.agent_id
             LEFT JOIN settlement_items i ON i.pay_id = p.id
             LEFT JOIN settlement_windows w ON w.id = i.window_id
            WHERE p.id = $1""",
        pay_id,
    )
    if pay is None or not pay["settled"]:
        return pay, None
    return pay, SettledLine(pay["commission_paise"], pay["fee_paise"])


async def _close_case(
    conn: Connection,
    case: asyncpg.Record,
    moves: Plan,
    resolution: str,
    actor: str,
    note: str,
) -> Resolved:
    """Record the adjustment for the biller's next settlement, mark the case
    resolved, and append the audit entry."""
    if moves.adjustment_kind and moves.adjustment_paise > 0:
        await conn.execute(
            """INSERT INTO settlement_adjustments (biller_id, case_id, kind, amount_paise)
               VALUES ($1, $2, $3, $4)""",
            case["biller_id"],
            case["id"],
            moves.adjustment_kind,
            moves.adjustment_paise,
        )
    after = await conn.fetchrow(
        """UPDATE recon_cases SET state = 'resolved', resolution = $2, resolved_by = $3,
                  resolved_at = now(), note = $4 WHERE id = $1 RETURNING *""",
        case["id"],
        resolution,
        actor,
        note,
    )
    assert after is not None
    await audit(
        conn,
        actor,
        "recon.resolve",
        "recon_case",
        str(case["id"]),
        json_ready(case),
        json_ready(after) | {"money": moves.as_dict()},
    )
    return Resolved(json_ready(after), moves)


async def _move_money(conn: Connection, case: asyncpg.Record, moves: Plan, wallet: int) -> None:
    """The plan's transfers (``recon:<case id>:<leg>``), each refused one named."""
    biller_id = case["biller_id"]
    codes = [payable_code(biller_id), receivable_code(biller_id), FEE_INCOME_CODE]
    rows = await conn.fetch("SELECT code, id FROM accounts WHERE code = ANY($1::text[])", codes)
    ids: dict[str, int] = {r["code"]: r["id"] for r in rows}
    if len(ids) < len(codes):
        raise CaseError(f"case {case['id']}: an account of this case does not exist")
    payable, receivable, fees = (ids[c] for c in codes)
    legs = [
        ("refund", receivable, wallet, moves.refund_paise),
        ("fee_back", fees, receivable, moves.fee_returned_paise),
        ("charge", wallet, payable, moves.charge_paise),
        ("commission", payable, wallet, moves.commission_paid_paise),
        ("fee", payable, fees, moves.fee_paid_paise),
    ]
    for name, debit, credit, amount in legs:
        if amount == 0:
            continue
        if name == "refund":  # bounded with every other refund of the pay
            try:
                await count_refund(conn, case["pay_id"], amount)
            except RefundTooLarge as exc:
                raise CaseError(f"case {case['id']}: {exc}") from None
        # One at a time, in this order: a force-post's commission is paid out of the
        # charge that lands in the payable just before it.
        leg = (f"recon:{case['id']}:{name}", debit, credit, amount)
        [code] = await ledger_store.apply_in_transaction(conn, [leg])
        if code == 3:
            source = {"charge": "the agent's wallet", "fee_back": "the switch's fee income"}
            raise CaseError(
                f"case {case['id']}: {source.get(name, name)} does not hold {amount} paise",
                "insufficient_funds",
            )
        if code not in (0, 1):
            raise CaseError(f"case {case['id']}: the ledger refused {name} (code {code})")
