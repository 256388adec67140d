"""Pay records in the database: one row per (terminal, terminal reference).

Every state change is a guarded update (``WHERE state = <the state we saw>``): if
another process moved the pay first, the update finds nothing and the caller reloads
instead of overwriting. The trigger on ``pays`` refuses illegal moves as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from switch.db.database import Database
from switch.pays.states import PayState, check_transition

IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class Pay:
    id: int
    terminal_id: str
    terminal_ref: str
    agent_id: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    mobile: str | None
    state: PayState
    error_code: str | None
    biller_txn_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def same_request(self, biller_id: str, account: str, amount_paise: int) -> bool:
        return (self.biller_id, self.consumer_account, self.amount_paise) == (
            biller_id,
            account,
            amount_paise,
        )


class PayConflict(Exception):
    """The pay was moved by someone else between our read and our write."""


class PayStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self,
        terminal_id: str,
        ref: str,
        agent_id: str,
        biller_id: str,
        account: str,
        amount_paise: int,
        mobile: str | None,
    ) -> tuple[Pay, bool]:
        """Record a new pay, or find the one this (terminal, ref) already names.

        Returns (pay, created). One round trip either way.
        """
        for _ in range(3):
            row = await self._db.fetchrow(
                """WITH ins AS (
                       INSERT INTO pays (terminal_id, terminal_ref, agent_id, biller_id,
                                         consumer_account, amount_paise, mobile, state)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, 'received')
                       ON CONFLICT (terminal_id, terminal_ref) DO NOTHING
                       RETURNING *)
                   SELECT *, true AS created FROM ins
                   UNION ALL
                   SELECT *, false FROM pays
                    WHERE terminal_id = $1 AND terminal_ref = $2
                      AND NOT EXISTS (SELECT 1 FROM ins)""",
                terminal_id,
                ref,
                agent_id,
                biller_id,
                account,
                amount_paise,
                mobile,
            )
            if row is not None:
                return _pay(row), bool(row["created"])
            # The conflicting row was inserted by a transaction that committed after
            # this statement's snapshot was taken: look again with a new one.
        raise PayConflict(f"pay {terminal_id}/{ref} could not be claimed or found")

    async def move(self, pay: Pay, new: PayState, **fields: Any) -> Pay:
        """Move ``pay`` from the state we saw to ``new``; a final move with a
        depositor mobile also queues the SMS, in the same statement."""
        check_transition(pay.state, new)
        error_code, biller_txn = fields.get("error_code"), fields.get("biller_txn_id")
        sms = sms_text(pay, new, error_code, biller_txn) if new.final and pay.mobile else None
        row = await self._db.fetchrow(
            """WITH moved AS (
                   UPDATE pays SET state = $3, updated_at = now(),
                          error_code = coalesce($4, error_code),
                          biller_txn_id = coalesce($5, biller_txn_id)
                    WHERE id = $1 AND state = $2 RETURNING *
               ), sms AS (
                   INSERT INTO sms_outbox (pay_id, mobile, body)
                   SELECT id, mobile, $6 FROM moved WHERE $6::text IS NOT NULL
                   ON CONFLICT (pay_id) DO NOTHING
               )
               SELECT * FROM moved""",
            pay.id,
            pay.state.value,
            new.value,
            error_code,
            biller_txn,
            sms,
        )
        if row is None:
            raise PayConflict(f"pay {pay.id} is no longer {pay.state}")
        return _pay(row)

    async def get(self, pay_id: int) -> Pay | None:
        row = await self._db.fetchrow("SELECT * FROM pays WHERE id = $1", pay_id)
        return _pay(row) if row else None

    async def by_ref(self, terminal_id: str, ref: str) -> Pay | None:
        row = await self._db.fetchrow(
            "SELECT * FROM pays WHERE terminal_id = $1 AND terminal_ref = $2", terminal_id, ref
        )
        return _pay(row) if row else None

    async def for_agent(
        self, agent_id: str, first: dt.date, last: dt.date, limit: int, after_id: int
    ) -> list[Pay]:
        """The agent's pays created on business dates first..last (IST), oldest first."""
        start, end = _ist_bounds(first, last)
        rows = await self._db.fetch(
            """SELECT * FROM pays WHERE agent_id = $1 AND created_at >= $2 AND created_at < $3
                 AND id > $4 ORDER BY id LIMIT $5""",
            agent_id,
            start,
            end,
            after_id,
            limit,
        )
        return [_pay(r) for r in rows]

    async def summary(self, agent_id: str, first: dt.date, last: dt.date) -> list[asyncpg.Record]:
        start, end = _ist_bounds(first, last)
        return await self._db.fetch(
            """SELECT state, count(*) AS count,
                      coalesce(sum(amount_paise), 0)::bigint AS amount_paise
                 FROM pays WHERE agent_id = $1 AND created_at >= $2 AND created_at < $3
                GROUP BY state ORDER BY state""",
            agent_id,
            start,
            end,
        )


def sms_text(pay: Pay, state: PayState, error_code: str | None, biller_txn: str | None) -> str:
    """The depositor's SMS (seed 000, D.8-9): a receipt, or a failure and what to do."""
    rupees = f"Rs {pay.amount_paise // 100}.{pay.amount_paise % 100:02d}"
    if state is PayState.POSTED:
        return (
            f"{rupees} received for {pay.biller_id} a/c {pay.consumer_account}. "
            f"Txn {pay.id}, biller ref {biller_txn or pay.biller_txn_id}, "
            f"terminal ref {pay.terminal_ref}. Thank you."
        )
    reason = (error_code or pay.error_code or "failed").replace("_", " ")
    return (
        f"Payment of {rupees} for {pay.biller_id} a/c {pay.consumer_account} FAILED "
        f"({reason}). Txn {pay.id}. Please collect your cash back from the agent."
    )


def _ist_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(), IST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), IST)
    return start, end


def _pay(row: asyncpg.Record) -> Pay:
    return Pay(
        id=row["id"],
        terminal_id=row["terminal_id"],
        terminal_ref=row["terminal_ref"],
        agent_id=row["agent_id"],
        biller_id=row["biller_id"],
        consumer_account=row["consumer_account"],
        amount_paise=row["amount_paise"],
        mobile=row["mobile"],
        state=PayState(row["state"]),
        error_code=row["error_code"],
        biller_txn_id=row["biller_txn_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
