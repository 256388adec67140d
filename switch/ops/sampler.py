"""Gauges that only the database knows, refreshed every ``sample_interval_s``.

Backlogs (pays not final, SMS waiting, open reconciliation cases) and how old their
oldest member is: the alert rules fire on age, not only on size, because a small
backlog that never moves is the one that loses a customer's receipt. A handful of
indexed aggregate queries per interval, whatever the traffic.
"""

from __future__ import annotations

from switch.db.database import Database
from switch.db.periodic import every
from switch.history.months import TABLES
from switch.ops.metrics import SwitchMetrics
from switch.settlement.matching import Break

OPEN_STATES = ("received", "reserved", "sent", "confirmed", "rejected", "unknown", "reversing")
RECON_KINDS = tuple(kind.value for kind in Break)
RECON_RESULTS = ("matched", *RECON_KINDS)


LINK_ORDER_STATES = ("created", "pending", "collected", "paying", "refunding")


class Sampler:
    def __init__(self, db: Database, metrics: SwitchMetrics, interval_s: float) -> None:
        self._db = db
        self._m = metrics
        self._interval_s = interval_s

    async def run(self) -> None:
        # On a failure the gauges keep their last values (and the sampled-at time says so).
        await every("ops sampling", self._interval_s, max(self._interval_s, 1.0), self.sample_once)

    async def sample_once(self) -> None:
        await self._pays()
        await self._sms()
        await self._link_orders()
        await self._recon()
        await self._settlement()
        await self._history()
        self._m.sampled_at.set_to_current_time()

    async def _pays(self) -> None:
        rows = await self._db.fetch(
            """SELECT state, count(*)::int AS n,
                      extract(epoch FROM now() - min(updated_at))::float8 AS oldest_s
                 FROM pays WHERE is_open GROUP BY state"""
        )
        found = {r["state"]: r for r in rows}
        for state in OPEN_STATES:
            row = found.get(state)
            self._m.open_pays.labels(state).set(row["n"] if row else 0)
            self._m.open_pays_oldest.labels(state).set(row["oldest_s"] if row else 0)

    async def _sms(self) -> None:
        row = await self._db.fetchrow(
            """SELECT count(*)::int AS n,
                      coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s
                 FROM sms_outbox WHERE state = 'pending'"""
        )
        assert row is not None
        self._m.sms_backlog.set(row["n"])
        self._m.sms_backlog_oldest.set(row["oldest_s"])

    async def _link_orders(self) -> None:
        rows = await self._db.fetch(
            """SELECT state, count(*)::int AS n,
                      extract(epoch FROM now() - min(updated_at))::float8 AS oldest_s
                 FROM link_orders
                WHERE state IN ('created', 'pending', 'collected', 'paying', 'refunding')
                GROUP BY state"""
        )
        found = {r["state"]: r for r in rows}
        for state in LINK_ORDER_STATES:
            self._m.link_orders_open.labels(state).set(found[state]["n"] if state in found else 0)
        held = [r["oldest_s"] for r in rows if r["state"] in ("collected", "paying", "refunding")]
        self._m.link_orders_oldest.set(max(held, default=0))

    async def _recon(self) -> None:
        rows = await self._db.fetch(
            """SELECT kind, count(*)::int AS n,
                      extract(epoch FROM now() - min(created_at))::float8 AS oldest_s
                 FROM recon_cases WHERE state = 'open' GROUP BY kind"""
        )
        found = {r["kind"]: r for r in rows}
        for kind in RECON_KINDS:
            self._m.recon_open.labels(kind).set(found[kind]["n"] if kind in found else 0)
        self._m.recon_open_oldest.set(max((r["oldest_s"] for r in rows), default=0))
        runs = await self._db.fetch(
            """SELECT DISTINCT ON (biller_id) * FROM recon_runs
                ORDER BY biller_id, business_date DESC"""
        )
        for run in runs:
            for result in RECON_RESULTS:
                self._m.recon_last_run.labels(run["biller_id"], result).set(run[result])

    async def _settlement(self) -> None:
        rows = await self._db.fetch(
            """SELECT biller_id, extract(epoch FROM max(ends_at))::float8 AS at
                 FROM settlement_windows WHERE state = 'settled' GROUP BY biller_id"""
        )
        for row in rows:
            self._m.settled_business_date.labels(row["biller_id"]).set(row["at"])

    async def _history(self) -> None:
        rows = await self._db.fetch(
            """SELECT to_char(history_month_now() + make_interval(months => i), 'YYYYMM') AS m
                 FROM generate_series(0, 12) i"""
        )
        names = [name for r in rows for name in (f"{t}_{r['m']}" for t in TABLES)]
        present = {
            r["relname"]
            for r in await self._db.fetch(
                "SELECT relname FROM pg_class WHERE relname = ANY ($1::text[])", names
            )
        }
        ready = 0
        for r in rows:
            if not all(f"{t}_{r['m']}" in present for t in TABLES):
                break
            ready += 1
        self._m.history_months_ready.set(ready)
