"""Wallet limits and freezes, applied to new pays (set through the admin API).

Each agent's wallet has a per-transaction limit, a per-day limit (IST calendar day:
pays not voided) and a maximum balance (checked on top-up), and may be frozen (no
new pays). Agents without limits of their own get the configured defaults.

The per-day limit is counted across every switch process (switch/pays/dayspend.py:
a counter per agent and day in Redis, added to atomically only while the total stays
within the limit; seeded from PostgreSQL), so an agent's terminals paying at once on
several processes cannot pass it together.

Every switch process keeps the explicit limits in memory and reloads them every
``limits_refresh_s``; the process that changed them reloads at once. So a freeze
reaches every process within that time.
"""

from __future__ import annotations

from dataclasses import dataclass

from switch.config import AdminConfig
from switch.db.database import Database
from switch.db.periodic import every
from switch.pays.dayspend import DaySpend
from switch.pays.states import PayState
from switch.pays.store import Pay


@dataclass(frozen=True)
class Limits:
    max_balance_paise: int
    per_txn_paise: int
    per_day_paise: int
    frozen: bool = False
    own: bool = False  # set for this agent (else the defaults)


# Error codes of pays this policy refused: they never counted against the day.
REFUSALS = frozenset({"wallet_frozen", "limit_exceeded"})


class WalletPolicy:
    def __init__(self, db: Database, cfg: AdminConfig, day_spend: DaySpend | None = None) -> None:
        self._db = db
        self._cfg = cfg
        # Without a running DaySpend (a one-shot command), days are counted in PostgreSQL.
        self.day_spend = day_spend or DaySpend(db, None)
        self._explicit: dict[str, Limits] = {}
        self.defaults = Limits(
            cfg.default_max_balance_paise, cfg.default_per_txn_paise, cfg.default_per_day_paise
        )

    def limits(self, agent_id: str) -> Limits:
        return self._explicit.get(agent_id, self.defaults)

    async def refresh(self) -> None:
        rows = await self._db.fetch(
            """SELECT agent_id, max_balance_paise, per_txn_paise, per_day_paise, frozen
                 FROM wallet_limits"""
        )
        self._explicit = {
            r["agent_id"]: Limits(
                r["max_balance_paise"], r["per_txn_paise"], r["per_day_paise"], r["frozen"], True
            )
            for r in rows
        }

    async def run(self) -> None:
        # On a failure the limits loaded last stay in force.
        await every("wallet limits refresh", self._cfg.limits_refresh_s, 30.0, self.refresh)

    async def refusal(self, pay: Pay) -> str | None:
        """Why this new pay may not go ahead (``wallet_frozen``, ``limit_exceeded``).
        None: it may, and it now counts against its agent's day."""
        limits = self.limits(pay.agent_id)
        if limits.frozen:
            return "wallet_frozen"
        if pay.amount_paise > limits.per_txn_paise:
            return "limit_exceeded"
        admitted = await self.day_spend.admit(
            pay.agent_id, pay.created_at, pay.amount_paise, limits.per_day_paise, pay.id
        )
        return None if admitted else "limit_exceeded"

    def pay_final(self, pay: Pay) -> None:
        """A pay reached its final state: a voided one that counted gives its amount
        back to its agent's day (a refused one never counted)."""
        if pay.state is PayState.VOIDED and pay.error_code not in REFUSALS:
            self.day_spend.give_back(pay.agent_id, pay.created_at, pay.amount_paise)
