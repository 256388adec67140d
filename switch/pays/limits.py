"""Wallet limits and freezes, applied to new pays (set through the admin API).

Each agent's wallet has a per-transaction limit, a per-day limit (IST calendar day:
pays not voided) and a maximum balance (checked on top-up), and may be frozen (no
new pays). Agents without limits of their own get the configured defaults; the
per-day limit is enforced for agents with limits of their own (it costs a query per
pay; the defaults rely on the per-transaction limit and the wallet's balance).

Every switch process keeps the explicit limits in memory and reloads them every
``limits_refresh_s``; the process that changed them reloads at once. So a freeze
reaches every process within that time. Pays from one agent's several terminals at
the same instant are each checked against the day's total without the others: the
day's limit can be passed by at most the pays in flight at that moment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from switch.config import AdminConfig
from switch.db.database import Database
from switch.db.periodic import every

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


@dataclass(frozen=True)
class Limits:
    max_balance_paise: int
    per_txn_paise: int
    per_day_paise: int
    frozen: bool = False
    own: bool = False  # set for this agent (else the defaults)


class WalletPolicy:
    def __init__(self, db: Database, cfg: AdminConfig) -> None:
        self._db = db
        self._cfg = cfg
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

    async def refusal(self, agent_id: str, amount_paise: int, pay_id: int) -> str | None:
        """Why this new pay may not go ahead (``wallet_frozen``, ``limit_exceeded``)."""
        limits = self.limits(agent_id)
        if limits.frozen:
            return "wallet_frozen"
        if amount_paise > limits.per_txn_paise:
            return "limit_exceeded"
        if limits.own:
            midnight = dt.datetime.combine(dt.datetime.now(IST).date(), dt.time(), tzinfo=IST)
            spent = await self._db.fetchval(
                """SELECT coalesce(sum(amount_paise), 0) FROM pays
                    WHERE agent_id = $1 AND created_at >= $2 AND state <> 'voided'
                      AND id <> $3""",
                agent_id,
                midnight,
                pay_id,
            )
            if spent + amount_paise > limits.per_day_paise:
                return "limit_exceeded"
        return None
