"""After a drill: wait until every pay has settled, then account for every paisa.

Shared by the chaos run and the failover drill. The checks, each a violation when it
fails:

- the ledger's invariants (they include: every pay agrees with its hold);
- every pay is posted or voided;
- posted at the switch <=> applied (and not reversed) at the biller, pay by pay, with
  the same amount and biller transaction id;
- every receipt a terminal printed (every ``success`` it was told) is a posted pay;
- every wallet = its funding - its posted pays (nothing debited twice, nothing lost);
  the gateway's settlement account is checked against the gateway's own books instead
  (loadtests/chaos_links.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import trio

from simulators.epos.fleet import FleetStats
from switch.db.database import Database
from switch.ledger import Ledger
from switch.protocols.http11 import HttpClient


async def settle(db: Database, timeout_s: float) -> bool:
    """Wait until every pay is final and no hold is left pending in the ledger
    (recovery also gives back holds that reached it after their pay ended)."""
    with trio.move_on_after(timeout_s):
        while await db.fetchval(  # noqa: ASYNC110 (polls the database)
            """SELECT (SELECT count(*) FROM pays WHERE state NOT IN ('posted', 'voided'))
                    + (SELECT count(*) FROM transfers WHERE state = 1)"""
        ):
            await trio.sleep(0.5)
        return True
    return False


async def account_for_every_paisa(
    db: Database, ledger: Ledger, biller: HttpClient, stats: FleetStats, wallet_paise: int
) -> dict[str, Any]:
    """The checks above against the switch's database and the biller's own report
    (``biller``: the discom simulator's admin API). Every agent was funded with
    ``wallet_paise``. Figures and ``violations`` (empty when every paisa is right)."""
    violations = list(await ledger.check_invariants())
    unfinished = await db.fetchval(
        "SELECT count(*) FROM pays WHERE state NOT IN ('posted','voided')"
    )
    if unfinished:
        violations.append(f"{unfinished} pays not final")
    posted = {
        r["id"]: (r["amount_paise"], r["biller_txn_id"])
        for r in await db.fetch(
            "SELECT id, amount_paise, biller_txn_id FROM pays WHERE state = 'posted'"
        )
    }
    report = (await biller.get("/v1/report?date=")).json()["payments"]
    applied = {
        p["switch_txn_id"]: (p["amount_paise"], p["biller_txn_id"])
        for p in report
        if p["status"] == "applied"
    }
    lost = sum(a for t, (a, _) in applied.items() if t not in posted)  # biller has, we refunded
    lost += sum(a for t, (a, _) in posted.items() if t not in applied)  # we took, biller lacks
    both = posted.keys() & applied.keys()
    # A pay posted after a crash whose biller txn id the biller could not tell again
    # then (switch/pays/flow.py, _posted_before_a_crash) is recorded without one, by
    # design: reconciliation matches it by switch txn id. Not a mismatch as long as
    # the amounts agree.
    unknown_txn = [t for t in both if not posted[t][1] and posted[t][0] == applied[t][0]]
    mismatched = [t for t in both if posted[t] != applied[t] and t not in unknown_txn]
    if lost or mismatched:
        violations.append(f"switch and biller disagree: {lost} paise, {len(mismatched)} mismatched")
    unposted_receipts = [r["txn"] for r in stats.receipts if int(r["txn"]) not in posted]
    if unposted_receipts:
        violations.append(f"{len(unposted_receipts)} printed receipts are not posted")
    doubled = await db.fetchval(
        """SELECT coalesce(sum(w.balance_paise - ($1 - coalesce(p.paid, 0))), 0)::bigint
             FROM agents a JOIN accounts w ON w.id = a.wallet_account_id
             LEFT JOIN (SELECT agent_id, sum(amount_paise) AS paid FROM pays
                         WHERE state = 'posted' GROUP BY agent_id) p ON p.agent_id = a.id
            WHERE a.kind = 'agent'""",
        wallet_paise,
    )
    if doubled:
        violations.append(f"wallets differ from funding minus posted pays by {doubled} paise")
    outcomes = Counter(
        f"{r['state']}{':' + r['error_code'] if r['error_code'] else ''}"
        for r in await db.fetch("SELECT state, error_code FROM pays")
    )
    return {
        "outcomes": dict(outcomes),
        "paise_lost": lost,
        "paise_doubled": abs(doubled),
        "fleet_pays_ok": stats.pays_ok,
        "fleet_pays_failed": stats.pays_failed,
        "fleet_failures": dict(stats.failures),  # what the failed pays were told
        "fleet_fetch_failures": dict(stats.fetch_failures),
        "fleet_reconnects": stats.reconnects,
        "receipts": len(stats.receipts),
        "cases": await db.fetchval("SELECT count(*) FROM recon_cases"),
        "posted_without_biller_txn_id": len(unknown_txn),
        "violations": violations,
    }
