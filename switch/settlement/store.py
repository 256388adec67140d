"""Settlement windows in the database: close (snapshot) and settle (move the money).

Each function is one database transaction, run on the asyncio side of the bridge
(``Database.run``), under a per-biller advisory lock so that one process at a time
closes or settles a biller's windows however many switch processes run.

close:  the window's posted pays are copied into settlement_items with their
        commission and fee (computed here in SQL, by the same rule as
        switch/settlement/amounts.py), pending reconciliation adjustments are taken
        in, and the totals are written: state 'closed'.
settle: the ledger transfers of the window (commission to each agent's wallet, the
        fee to the switch, recovered refunds to the biller's receivable, the rest to
        the biller's bank) are applied by ledger_apply in the same transaction that
        marks the window 'settled'. Either all of them and the state change happen,
        or none does.
Both are idempotent: a closed window is not closed again, a settled one not settled
again, and every transfer carries an idempotency key derived from the window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from switch.db import Connection
from switch.db.rows import json_ready
from switch.ledger import store as ledger_store
from switch.ledger.types import FEE_INCOME_CODE, FUNDING_CODE
from switch.settlement.calendar import Window

SETTLEMENT_LOCK = 7460002  # advisory lock class; the second key is the biller's hash


class SettlementError(Exception):
    pass


class NotDue(SettlementError):
    """The window's cut-off (plus the grace period) has not passed yet."""


class PaysInFlight(SettlementError):
    """Some pays of the window are not final yet; recovery finishes them first."""


@dataclass(frozen=True)
class WindowRow:
    id: int
    biller_id: str
    business_date: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str
    pay_count: int
    gross_paise: int
    adjust_in_paise: int
    commission_paise: int
    fee_paise: int
    recovered_paise: int
    net_paise: int
    closed_at: dt.datetime
    settled_at: dt.datetime | None
    file_sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        return json_ready(self.__dict__)


def receivable_code(biller_id: str) -> str:
    return f"receivable:{biller_id}"


def payable_code(biller_id: str) -> str:
    return f"biller:{biller_id}"


def window_row(r: asyncpg.Record) -> WindowRow:
    return WindowRow(**dict(r))


async def _lock(conn: Connection, biller_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", SETTLEMENT_LOCK, biller_id)


async def by_id(conn: Connection, window_id: int) -> WindowRow | None:
    row = await conn.fetchrow("SELECT * FROM settlement_windows WHERE id = $1", window_id)
    return window_row(row) if row else None


async def find(conn: Connection, biller_id: str, day: dt.date) -> WindowRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM settlement_windows WHERE biller_id = $1 AND business_date = $2",
        biller_id,
        day,
    )
    return window_row(row) if row else None


CLOSE_SQL = """
WITH items AS (
    INSERT INTO settlement_items (window_id, pay_id, agent_id, amount_paise, commission_paise,
                                  fee_paise)
    SELECT $1, p.id, p.agent_id, p.amount_paise, c.commission,
           LEAST($5::bigint, p.amount_paise - c.commission)
      FROM pays p
     CROSS JOIN LATERAL (SELECT p.amount_paise * $4::bigint / 10000 AS commission) c
     WHERE p.biller_id = $6 AND p.created_at >= $2 AND p.created_at < $3
       AND p.state = 'posted'
    RETURNING amount_paise, commission_paise, fee_paise
)
SELECT count(*)::int AS n, coalesce(sum(amount_paise), 0)::bigint AS gross,
       coalesce(sum(commission_paise), 0)::bigint AS commission,
       coalesce(sum(fee_paise), 0)::bigint AS fee
  FROM items
"""


async def close(
    conn: Connection,
    biller_id: str,
    window: Window,
    commission_bps: int,
    fee_paise: int,
    now: dt.datetime,
    grace_s: float,
) -> WindowRow:
    """Close the window (idempotent: a closed or settled window is returned as is)."""
    async with conn.transaction():
        await _lock(conn, biller_id)
        existing = await find(conn, biller_id, window.business_date)
        if existing is not None:
            return existing
        await _check_closable(conn, biller_id, window, now, grace_s)
        window_id = await conn.fetchval(
            """INSERT INTO settlement_windows (biller_id, business_date, starts_at, ends_at,
                   state, pay_count, gross_paise, adjust_in_paise, commission_paise, fee_paise,
                   recovered_paise, net_paise)
               VALUES ($1, $2, $3, $4, 'closed', 0, 0, 0, 0, 0, 0, 0) RETURNING id""",
            biller_id,
            window.business_date,
            window.starts_at,
            window.ends_at,
        )
        sums = await conn.fetchrow(
            CLOSE_SQL,
            window_id,
            window.starts_at,
            window.ends_at,
            commission_bps,
            fee_paise,
            biller_id,
        )
        assert sums is not None
        adjust_in, recovered = await _take_adjustments(
            conn, biller_id, window_id, sums["gross"] - sums["commission"] - sums["fee"]
        )
        net = sums["gross"] + adjust_in - sums["commission"] - sums["fee"] - recovered
        row = await conn.fetchrow(
            """UPDATE settlement_windows SET pay_count = $2, gross_paise = $3,
                      adjust_in_paise = $4, commission_paise = $5, fee_paise = $6,
                      recovered_paise = $7, net_paise = $8
                WHERE id = $1 RETURNING *""",
            window_id,
            sums["n"],
            sums["gross"],
            adjust_in,
            sums["commission"],
            sums["fee"],
            recovered,
            net,
        )
        assert row is not None
        return window_row(row)


async def _check_closable(
    conn: Connection, biller_id: str, window: Window, now: dt.datetime, grace_s: float
) -> None:
    """NotDue before the cut-off and its grace; PaysInFlight while any pay is not final."""
    due_at = window.ends_at + dt.timedelta(seconds=grace_s)
    if now < due_at:
        raise NotDue(f"{biller_id} {window.business_date}: closes at {due_at.isoformat()}")
    in_flight = await conn.fetchval(
        """SELECT count(*) FROM pays WHERE biller_id = $1 AND created_at >= $2
              AND created_at < $3 AND state NOT IN ('posted', 'voided')""",
        biller_id,
        window.starts_at,
        window.ends_at,
    )
    if in_flight:
        raise PaysInFlight(f"{biller_id} {window.business_date}: {in_flight} pays not final yet")


async def _take_adjustments(
    conn: Connection, biller_id: str, window_id: int, available_paise: int
) -> tuple[int, int]:
    """Attach the reconciliation adjustments made since the last close; return the
    force-posted money coming in, and how much of the biller's debt (refunds paid to
    agents) this window recovers: all of it, or as much as the window can bear (the
    rest is recovered by later windows: the receivable account keeps the balance)."""
    moved = await conn.fetch(
        """UPDATE settlement_adjustments SET window_id = $2
            WHERE biller_id = $1 AND window_id IS NULL RETURNING kind, amount_paise""",
        biller_id,
        window_id,
    )
    adjust_in = sum(r["amount_paise"] for r in moved if r["kind"] == "force_post")
    owed = await conn.fetchval(
        """SELECT -coalesce((SELECT balance_paise FROM accounts WHERE code = $1), 0)
                  - coalesce((SELECT sum(recovered_paise) FROM settlement_windows
                               WHERE biller_id = $2 AND state = 'closed'), 0)""",
        receivable_code(biller_id),
        biller_id,
    )
    recovered = max(0, min(int(owed), available_paise + adjust_in))
    return adjust_in, recovered


async def settle(conn: Connection, biller_id: str, day: dt.date, file_sha256: str) -> WindowRow:
    """Move the window's money, atomically with marking it settled (idempotent)."""
    async with conn.transaction():
        await _lock(conn, biller_id)
        window = await find(conn, biller_id, day)
        if window is None:
            raise SettlementError(f"{biller_id} {day}: not closed yet")
        if window.state == "settled":
            return window
        legs = await _legs(conn, window)
        codes = await ledger_store.apply_in_transaction(conn, legs)
        refused = [
            (leg[0], code) for leg, code in zip(legs, codes, strict=True) if code not in (0, 1)
        ]
        if refused:
            # Raising rolls back every transfer of this window and the state change.
            raise SettlementError(f"{biller_id} {day}: ledger refused (key, code) {refused[:5]}")
        row = await conn.fetchrow(
            """UPDATE settlement_windows SET state = 'settled', settled_at = now(),
                      file_sha256 = $2 WHERE id = $1 RETURNING *""",
            window.id,
            file_sha256,
        )
        assert row is not None
        return window_row(row)


async def _legs(conn: Connection, w: WindowRow) -> list[tuple[str, int, int, int]]:
    """The window's transfers: (key, debit account, credit account, amount)."""
    ids = await _account_ids(conn, w.biller_id)
    prefix = f"settle:{w.biller_id}:{w.business_date.isoformat()}"
    payable = ids[payable_code(w.biller_id)]
    legs = [
        (f"{prefix}:commission:{r['agent_id']}", payable, r["wallet"], r["paise"])
        for r in await conn.fetch(
            """SELECT i.agent_id, a.wallet_account_id AS wallet,
                      sum(i.commission_paise)::bigint AS paise
                 FROM settlement_items i JOIN agents a ON a.id = i.agent_id
                WHERE i.window_id = $1 GROUP BY i.agent_id, a.wallet_account_id
                HAVING sum(i.commission_paise) > 0 ORDER BY i.agent_id""",
            w.id,
        )
    ]
    legs.append((f"{prefix}:fee", payable, ids[FEE_INCOME_CODE], w.fee_paise))
    receivable = ids[receivable_code(w.biller_id)]
    legs.append((f"{prefix}:recovered", payable, receivable, w.recovered_paise))
    legs.append((f"{prefix}:payout", payable, ids[FUNDING_CODE], w.net_paise))
    return [leg for leg in legs if leg[3] > 0]


async def _account_ids(conn: Connection, biller_id: str) -> dict[str, int]:
    codes = [payable_code(biller_id), receivable_code(biller_id), FEE_INCOME_CODE, FUNDING_CODE]
    rows = await conn.fetch("SELECT code, id FROM accounts WHERE code = ANY($1::text[])", codes)
    ids = {r["code"]: r["id"] for r in rows}
    missing = [c for c in codes if c not in ids]
    if missing:
        raise SettlementError(f"accounts missing: {missing} (is biller {biller_id} configured?)")
    return ids


async def items(conn: Connection, window_id: int) -> list[asyncpg.Record]:
    """The window's lines for its settlement file, in pay order."""
    return await conn.fetch(
        """SELECT i.pay_id, p.biller_txn_id, p.terminal_id, p.terminal_ref, i.agent_id,
                  p.consumer_account, i.amount_paise, i.commission_paise, i.fee_paise,
                  p.created_at, p.channel
             FROM settlement_items i JOIN pays p ON p.id = i.pay_id
            WHERE i.window_id = $1 ORDER BY i.pay_id""",
        window_id,
    )


async def adjustments(conn: Connection, window_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT a.id, a.case_id, a.kind, a.amount_paise, c.pay_id, c.biller_txn_id
             FROM settlement_adjustments a JOIN recon_cases c ON c.id = a.case_id
            WHERE a.window_id = $1 ORDER BY a.id""",
        window_id,
    )


async def windows(conn: Connection, biller_id: str | None, limit: int) -> list[WindowRow]:
    rows = await conn.fetch(
        """SELECT * FROM settlement_windows WHERE $1::text IS NULL OR biller_id = $1
            ORDER BY business_date DESC, biller_id LIMIT $2""",
        biller_id,
        limit,
    )
    return [window_row(r) for r in rows]
