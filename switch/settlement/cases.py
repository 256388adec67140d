"""Reconciliation cases: list them, and resolve one (money only through the ledger).

Resolving is one database transaction: lock the case, apply its ledger transfer (if
the resolution moves money), record the adjustment the biller's next settlement
nets, mark the case resolved, and append the audit entry. All of it or none of it;
two people resolving the same case at once get one resolution and one error.

resolution    money moved                          allowed for
refund_agent  biller's receivable -> agent wallet  missing_at_biller; amount_mismatch
              (the biller owes it back: its next   where the biller kept less
              settlements recover it)
force_post    agent wallet -> biller's payable     missing_at_switch, success_after_reversal;
              (paid at the biller's next           amount_mismatch where the biller kept more
              settlement)
no_money      none (settled outside the switch)    any
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import store as ledger_store
from switch.settlement.store import payable_code, receivable_code

RESOLUTIONS = ("refund_agent", "force_post", "no_money")
MAX_NOTE_CHARS = 2000
_REFUSALS = {
    2: "the ledger already has this case's transfer with other content",
    3: "the agent's wallet does not hold enough to force-post",
    4: "an account of this case does not exist",
}


class CaseError(Exception):
    """A resolution refused; ``reason`` is ``invalid`` (it does not fit the case, or
    the case is resolved already) or ``insufficient_funds`` (force-post: the wallet
    does not hold the amount)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Resolved:
    case: dict[str, Any]
    transfer_key: str | None
    amount_paise: int


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


async def resolve(db: Database, case_id: int, resolution: str, actor: str, note: str) -> Resolved:
    if resolution not in RESOLUTIONS:
        raise CaseError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    if not actor.strip():
        raise CaseError("who resolves it must be named (--by)")
    if not note.strip() or len(note) > MAX_NOTE_CHARS:
        raise CaseError(f"a note of 1-{MAX_NOTE_CHARS} characters is required")
    return await db.run(lambda c: _resolve(c, case_id, resolution, actor.strip(), note.strip()))


async def _resolve(
    conn: Connection, case_id: int, resolution: str, actor: str, note: str
) -> Resolved:
    async with conn.transaction():
        case = await conn.fetchrow("SELECT * FROM recon_cases WHERE id = $1 FOR UPDATE", case_id)
        if case is None:
            raise CaseError(f"no case {case_id}")
        if case["state"] != "open":
            raise CaseError(f"case {case_id} is already resolved ({case['resolution']})")
        pay = await conn.fetchrow(
            """SELECT p.amount_paise, a.wallet_account_id FROM pays p
                 JOIN agents a ON a.id = p.agent_id WHERE p.id = $1""",
            case["pay_id"],
        )
        amount = _amount_for(case, resolution, pay["amount_paise"] if pay else None)
        key = None
        if amount:
            assert pay is not None
            key = f"recon:{case_id}"
            await _move_money(conn, case, resolution, key, amount, pay["wallet_account_id"])
            await conn.execute(
                """INSERT INTO settlement_adjustments (biller_id, case_id, kind, amount_paise)
                   VALUES ($1, $2, $3, $4)""",
                case["biller_id"],
                case_id,
                "refund" if resolution == "refund_agent" else "force_post",
                amount,
            )
        after = await conn.fetchrow(
            """UPDATE recon_cases SET state = 'resolved', resolution = $2, resolved_by = $3,
                      resolved_at = now(), note = $4 WHERE id = $1 RETURNING *""",
            case_id,
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
            str(case_id),
            json_ready(case),
            json_ready(after) | {"transfer_key": key, "moved_paise": amount},
        )
        return Resolved(json_ready(after), key, amount)


def _amount_for(case: asyncpg.Record, resolution: str, pay_amount_paise: int | None) -> int:
    """How much the resolution moves; refuses one that does not fit the case."""
    if resolution == "no_money":
        return 0
    kind = case["kind"]
    if pay_amount_paise is None:
        raise CaseError(
            f"case {case['id']}: the switch has no pay for it, so no agent to "
            "refund or charge; settle it with the biller and resolve with no_money"
        )
    if kind == "amount_mismatch":
        kept_less = case["biller_amount_paise"] < pay_amount_paise
        if (resolution == "refund_agent") != kept_less:
            right = "refund_agent" if kept_less else "force_post"
            raise CaseError(
                f"case {case['id']}: the biller kept {'less' if kept_less else 'more'} than "
                f"the agent paid, so the resolution is {right}"
            )
        return int(case["amount_paise"])
    allowed = {
        "missing_at_biller": "refund_agent",
        "missing_at_switch": "force_post",
        "success_after_reversal": "force_post",
    }.get(kind)
    if allowed != resolution:
        raise CaseError(f"case {case['id']} ({kind}) is resolved by {allowed} or no_money")
    return int(case["amount_paise"])


async def _move_money(
    conn: Connection, case: asyncpg.Record, resolution: str, key: str, amount: int, wallet: int
) -> None:
    rows = await conn.fetch(
        "SELECT code, id FROM accounts WHERE code = ANY($1::text[])",
        [payable_code(case["biller_id"]), receivable_code(case["biller_id"])],
    )
    ids: dict[str, int] = {r["code"]: r["id"] for r in rows}
    payable = ids.get(payable_code(case["biller_id"]))
    receivable = ids.get(receivable_code(case["biller_id"]))
    if payable is None or receivable is None:
        raise CaseError(f"case {case['id']}: {_REFUSALS[4]}")
    if resolution == "refund_agent":
        leg = (key, receivable, wallet, amount)
    else:
        leg = (key, wallet, payable, amount)
    [code] = await ledger_store.apply_in_transaction(conn, [leg])
    if code not in (0, 1):
        message = f"case {case['id']}: {_REFUSALS.get(code, f'ledger code {code}')}"
        raise CaseError(message, "insufficient_funds" if code == 3 else "invalid")
