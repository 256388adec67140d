"""The demo's end of day: its pays closed, filed, settled and reconciled against each
biller's own report, as the switch does at every business day's cut-off.

A real day ends at the cut-off (20:00 IST by default, business days only) and the
switch processes close it themselves (docs/settlement.md). The demo's day is the
demo's run, so the demo closes it right after the fleet stops, with a calendar whose
cut-off is that moment and no day off; its switch runs with ``auto_close = false``
so that this is the only closer, with the only calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from switch.config import BillerConfig, SettlementConfig
from switch.db.database import Database
from switch.ledger import Ledger
from switch.settlement.calendar import IST, Calendar
from switch.settlement.recon import Reconciler, report_connector
from switch.settlement.service import Settlement

# Closing waits for no pay: the fleet has stopped and every pay is final by now
# (the demo's summary waited for it); pays still open would make a window wait.
_SETTLEMENT = SettlementConfig(close_grace_s=0.0, report_timeout_s=30.0)


async def end_of_day(
    db: Database, ledger: Ledger, billers: Sequence[BillerConfig], files_dir: Path
) -> dict[str, Any]:
    """Close the demo's day for every biller; what settled and what reconciliation
    found, per biller, and whether the books are square afterwards."""
    cut: dt.datetime = await db.fetchval("SELECT now()")
    calendar = Calendar(cut.astimezone(IST).time(), frozenset(), frozenset())
    day = calendar.business_date(cut - dt.timedelta(microseconds=1))
    connectors = {b.id: report_connector(b, _SETTLEMENT) for b in billers}
    settlement = Settlement(db, billers, _SETTLEMENT, files_dir, calendar)
    reconciler = Reconciler(db, calendar, connectors)
    out: dict[str, Any] = {"business_date": day.isoformat(), "billers": {}}
    try:
        for biller in billers:
            w = await settlement.close(biller.id, day, now=cut)
            recon = await reconciler.run(biller.id, day)
            payable = await ledger.account_by_code(f"biller:{biller.id}")
            out["billers"][biller.id] = {
                "pays": w.pay_count,
                "gross_paise": w.gross_paise,
                "commission_paise": w.commission_paise,
                "fee_paise": w.fee_paise,
                "net_paise": w.net_paise,
                "file": str(files_dir / biller.id / f"{biller.id}_{day.isoformat()}.csv"),
                "matched": recon.matched,
                "breaks": sum(recon.breaks.values()),
                "payable_after_paise": payable.balance_paise,
            }
    finally:
        for connector in connectors.values():
            await connector.aclose()
    posted = await db.fetchval("SELECT count(*) FROM pays WHERE state = 'posted'")
    figures = out["billers"].values()
    out["settled_all"] = sum(b["pays"] for b in figures) == posted
    out["reconciled_clean"] = all(
        b["breaks"] == 0 and b["payable_after_paise"] == 0 for b in figures
    )
    return out
