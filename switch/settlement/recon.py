"""Reconciliation runs: fetch both sides of a window, match them, record the breaks.

One run per (biller, business date); running it again re-fetches and re-matches, and
records each break at most once (a case is unique per kind and pay, or per kind and
biller txn id when the switch has no pay). A resolved case is never reopened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from switch.config import BillerConfig, SettlementConfig
from switch.db import Connection
from switch.db.database import Database
from switch.protocols.billers.base import Connector, ReportedPayment
from switch.protocols.billers.http import HttpConnector
from switch.protocols.billers.stub import StubConnector
from switch.settlement.calendar import IST, Calendar, Window
from switch.settlement.matching import (
    SUGGESTED_ACTION,
    Break,
    Finding,
    Result,
    SwitchPay,
    reconcile,
)
from switch.settlement.store import SettlementError

MAX_REPORT_DAYS = 40  # a window spans at most this many calendar days (and one after)


@dataclass(frozen=True)
class ReconSummary:
    biller_id: str
    business_date: dt.date
    matched: int
    breaks: dict[str, int]
    new_cases: int

    def as_dict(self) -> dict[str, object]:
        return {
            "biller_id": self.biller_id,
            "business_date": self.business_date.isoformat(),
            "matched": self.matched,
            "breaks": self.breaks,
            "new_cases": self.new_cases,
        }


def report_connector(biller: BillerConfig, cfg: SettlementConfig) -> Connector:
    """A connection to the biller for its daily report: its own client, with the long
    timeout and large size cap a day's report needs (not the pay path's)."""
    if biller.connector == "stub":
        return StubConnector(biller.id)
    return HttpConnector(
        biller.id,
        biller.endpoint,
        timeout_s=cfg.report_timeout_s,
        max_concurrency=1,
        max_response_bytes=cfg.max_report_bytes,
    )


class Reconciler:
    def __init__(
        self, db: Database, calendar: Calendar, connectors: Mapping[str, Connector]
    ) -> None:
        self._db = db
        self._calendar = calendar
        self._connectors = connectors

    async def run(self, biller_id: str, day: dt.date) -> ReconSummary:
        connector = self._connectors.get(biller_id)
        if connector is None:
            raise SettlementError(f"no biller {biller_id!r} configured")
        window = self._calendar.window(day)
        ours = await self._ours(biller_id, window)
        theirs = await self._theirs(connector, window)
        elsewhere = await self._pays_elsewhere(biller_id, window, theirs)
        result = reconcile(window, ours, theirs, elsewhere)
        new_cases = await self._db.run(lambda c: _record(c, biller_id, day, result))
        return ReconSummary(
            biller_id,
            day,
            result.matched,
            {kind.value: result.count(kind) for kind in Break},
            new_cases,
        )

    async def _ours(self, biller_id: str, window: Window) -> list[SwitchPay]:
        rows = await self._db.fetch(
            """SELECT id, agent_id, amount_paise, state, error_code, biller_txn_id FROM pays
                WHERE biller_id = $1 AND created_at >= $2 AND created_at < $3
                  AND state IN ('posted', 'voided') ORDER BY id""",
            biller_id,
            window.starts_at,
            window.ends_at,
        )
        return [SwitchPay(**dict(r)) for r in rows]

    async def _theirs(self, connector: Connector, window: Window) -> list[ReportedPayment]:
        """The biller's lines for every calendar day the window touches, and the day
        after (a pay made just before the cut-off may be applied just after it)."""
        first = window.starts_at.astimezone(IST).date()
        last = window.ends_at.astimezone(IST).date() + dt.timedelta(days=1)
        if (last - first).days > MAX_REPORT_DAYS:
            raise SettlementError(f"window {window.business_date} spans too many days")
        lines: dict[str, ReportedPayment] = {}
        day = first
        while day <= last:
            for line in await connector.report(day):
                lines[line.biller_txn_id] = line
            day += dt.timedelta(days=1)
        return list(lines.values())

    async def _pays_elsewhere(
        self, biller_id: str, window: Window, lines: list[ReportedPayment]
    ) -> frozenset[int]:
        """Switch txn ids on the biller's lines that are pays of other windows."""
        ids = [ln.switch_txn_id for ln in lines if ln.switch_txn_id is not None]
        rows = await self._db.fetch(
            """SELECT id FROM pays WHERE id = ANY($1::bigint[])
                AND NOT (biller_id = $2 AND created_at >= $3 AND created_at < $4)""",
            ids,
            biller_id,
            window.starts_at,
            window.ends_at,
        )
        return frozenset(r["id"] for r in rows)


async def _record(conn: Connection, biller_id: str, day: dt.date, result: Result) -> int:
    """The run's counts and one case per break, in one transaction."""
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO recon_runs (biller_id, business_date, matched, missing_at_biller,
                   missing_at_switch, amount_mismatch, success_after_reversal)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (biller_id, business_date) DO UPDATE SET ran_at = now(),
                   matched = $3, missing_at_biller = $4, missing_at_switch = $5,
                   amount_mismatch = $6, success_after_reversal = $7""",
            biller_id,
            day,
            result.matched,
            result.count(Break.MISSING_AT_BILLER),
            result.count(Break.MISSING_AT_SWITCH),
            result.count(Break.AMOUNT_MISMATCH),
            result.count(Break.SUCCESS_AFTER_REVERSAL),
        )
        created = 0
        for finding in result.findings:
            created += await _open_case(conn, biller_id, day, finding)
        return created


async def _open_case(conn: Connection, biller_id: str, day: dt.date, f: Finding) -> int:
    conflict = (
        "ON CONFLICT (kind, pay_id) DO NOTHING"
        if f.pay is not None
        else "ON CONFLICT (kind, biller_id, biller_txn_id) WHERE pay_id IS NULL DO NOTHING"
    )
    status = await conn.execute(
        f"""INSERT INTO recon_cases (kind, pay_id, biller_id, amount_paise, detail,
                suggested_action, business_date, biller_txn_id, biller_amount_paise)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {conflict}""",
        f.kind.value,
        f.pay.id if f.pay else None,
        biller_id,
        f.amount_paise,
        f.detail(),
        SUGGESTED_ACTION[f.kind],
        day,
        f.line.biller_txn_id if f.line else (f.pay.biller_txn_id if f.pay else None),
        f.line.amount_paise if f.line else None,
    )
    return 1 if status.endswith(" 1") else 0
