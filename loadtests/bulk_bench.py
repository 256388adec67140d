"""Institutional bills at volume: the checks alone, intake with the checks into
PostgreSQL, and a pay run by priority through the switch's own pay flow.

    python -m loadtests.bulk_bench [--bills 100000] [--pay 10000]

Runs an embedded PostgreSQL of its own (a temporary directory) and the whole switch
in this process with a stub discom. It prints one JSON object:

- ``checks``: SBV, DBV and OBV of every bill in memory (bills/s, the pure rules);
- ``intake``: the same bills taken in through ``switch.bulk.store.take_in`` (their
  history from the file, each checked, queued, with dockets and milestones), bills/s;
- ``pay_run``: ``--pay`` bills with liabilities paid by a run over funds that cover
  them all (bills/s, wall time), then the payer's account and the discom's books
  compared (what was paid is exactly what was debited).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from switch.bulk import payers, store, tariffs, validation
from switch.bulk.bills import Bill, Month
from switch.bulk.service import BulkService
from switch.config import (
    AdminConfig,
    BillerConfig,
    BulkConfig,
    Config,
    OpsConfig,
    PartnersConfig,
    ServicesConfig,
    SmsConfig,
    TerminalsConfig,
)
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.pays import topups
from switch.protocols.billers.stub import stub_amount_paise
from switch.server import running_switch
from switch.services import ensure_running, stop

LMV2 = ("UPPCL", "LMV-2")


def make_bills(n: int, seed: int = 7) -> list[Bill]:
    """Bills of n sites (one each), most passing every check, some failing each."""
    rng = random.Random(seed)
    today = dt.date.today()
    out = []
    for i in range(n):
        units = rng.randint(200, 2000)
        omr = rng.randint(10_000, 90_000)
        history = tuple(Month(int(units * rng.uniform(0.85, 1.05)), 0, None) for _ in range(6))
        bill = Bill(
            site_id=f"S{i:06d}", bill_no=f"B{i:06d}/1", bill_date=today - dt.timedelta(days=3),
            due_date=today + dt.timedelta(days=rng.randint(5, 25)), units=units,
            current_paise=0, omr=omr, cmr=omr + units, meter_rent_paise=2500, billing_days=30,
            history=history,
        )  # fmt: skip
        calc = tariffs.calculate(_TARIFFS[LMV2], _SITE, bill)
        current = calc.gross_paise - calc.meter_rent_paise
        kind = i % 20
        if kind == 0:
            bill = dataclasses.replace(bill, cmr=omr - 1)  # SBV: a meter run backwards
        elif kind == 1:
            current = current * 110 // 100  # OBV: 10 % over the tariff
        elif kind == 2:
            bill = dataclasses.replace(bill, billing_days=None)  # OBV skipped
        months = tuple(Month(m.units, current * m.units // units, None) for m in history)
        out.append(dataclasses.replace(bill, current_paise=current, history=months))
    return out


_TARIFFS = tariffs.load()
_SITE = tariffs.Site(sanctioned_load_kw=Decimal(5))


def time_checks(bills: list[Bill]) -> dict[str, Any]:
    started = time.perf_counter()
    letters: dict[str, int] = {}
    for b in bills:
        letter = validation.validate(b, _SITE, _TARIFFS[LMV2]).letter
        letters[letter] = letters.get(letter, 0) + 1
    wall = time.perf_counter() - started
    return {"bills": len(bills), "wall_s": round(wall, 2), "bills_per_s": round(len(bills) / wall),
            "by_letter": letters}  # fmt: skip


async def add_sites(db: Any, payer_id: str, n: int) -> None:
    await db.execute("INSERT INTO payer_circles VALUES ($1, 'C1', 'Circle one')", payer_id)
    await db.execute(
        """INSERT INTO payer_sites (payer_id, circle_id, site_code, name, biller_id,
               consumer_account, meter_no, cost_centre, vendor_code, category, pay_category,
               sanctioned_load_kw)
           SELECT $1, 'C1', 'S' || lpad(i::text, 6, '0'), 'Site ' || i, 'UPPCL',
                  (3000000000 + i)::text, 'M' || i, 'CC1', 'V1', 'LMV-2',
                  (ARRAY['gold', 'silver', 'bronze', 'z'])[1 + i % 4], 5
             FROM generate_series(0, $2 - 1) AS i""",
        payer_id,
        n,
    )


async def pay_run(sw: Any, db: Any, payer_id: str, n: int) -> dict[str, Any]:
    """n bills booked in the ERP (their net payable what the stub discom has due), and
    a run whose funds cover them all."""
    await db.execute(
        """UPDATE site_bills b SET state = 'liability', liability_doc = 'D' || b.id,
                  tds_paise = 0, approved_paise = b.gross_paise, net_payable_paise = 0
             WHERE b.id IN (SELECT id FROM site_bills ORDER BY id LIMIT $1)""",
        n,
    )
    rows = await db.fetch(
        "SELECT b.id, s.consumer_account FROM site_bills b JOIN payer_sites s ON s.id = b.site_id"
        " WHERE b.state = 'liability'"
    )
    net = {r["id"]: stub_amount_paise(r["consumer_account"]) for r in rows}
    await db.execute(
        "UPDATE site_bills SET net_payable_paise = n.v FROM unnest($1::bigint[], $2::bigint[])"
        " AS n(id, v) WHERE site_bills.id = n.id",
        list(net),
        list(net.values()),
    )
    total = sum(net.values())
    payer = await payers.payer(db, payer_id)
    assert payer is not None
    await db.run(lambda conn: topups.top_up(
        conn, agent_id=payer_id, wallet_account_id=payer["wallet_account_id"],
        amount_paise=total, bank_ref="BENCH0001", ceiling_paise=10**14, actor="bench",
    ))  # fmt: skip
    service = BulkService(db, sw.deps.service, BulkConfig(pay_concurrency=128), _TARIFFS)
    run_id = await service.start_run(payer_id, total, "bench")
    started = time.perf_counter()
    report = await service.drive(run_id)
    wall = time.perf_counter() - started
    await service.aclose()
    balance = await db.fetchval(
        "SELECT balance_paise FROM accounts WHERE id = $1", payer["wallet_account_id"]
    )
    applied = sw.billers["UPPCL"].connector.connector.applied
    reasons: dict[str, int] = {}
    for item in report["items"]:
        if item["outcome"] != "paid":
            reasons[str(item["reason"])] = reasons.get(str(item["reason"]), 0) + 1
    return {
        "bills": n,
        "paid": report["outcomes"].get("paid", {}).get("bills", 0),
        "not_paid": reasons,
        "wall_s": round(wall, 1),
        "bills_per_s": round(n / wall),
        "paid_paise": report["paid_paise"],
        "payer_debited_paise": total - balance,
        "discom_applied_paise": sum(p.amount_paise for p in applied.values()),
    }


async def main_async(urls: Any, work: Path, n: int, pay: int) -> dict[str, Any]:
    bills = make_bills(n)
    result: dict[str, Any] = {"checks": time_checks(bills)}
    async with Database.open(urls.database_url, 1) as db:
        await db.run(migrate)
    cfg = Config(
        terminals=TerminalsConfig(port=0, identity_key_file=str(work / "switch.key")),
        billers=(BillerConfig(id="UPPCL", name="UPPCL (stub)", connector="stub"),),
        sms=SmsConfig(enabled=False),
        ops=OpsConfig(metrics_port=0),
        partners=PartnersConfig(enabled=False),
        admin=AdminConfig(enabled=False),
    )
    async with running_switch(cfg, urls.database_url, urls.redis_url) as sw:
        created = await payers.add_payer(sw.db, sw.ledger, "Bench Telecom", "9876500099", "bench")
        await sw.policy.refresh()  # the payer's own limits, not an agent's
        await add_sites(sw.db, created["id"], n)
        started = time.perf_counter()
        intake = await store.take_in(sw.db, created["id"], bills, "file:bench", _TARIFFS, "bench")
        wall = time.perf_counter() - started
        result["intake"] = {"bills": n, "taken_in": intake.taken_in, "wall_s": round(wall, 1),
                            "bills_per_s": round(n / wall),
                            "by_letter": intake.by_letter}  # fmt: skip
        result["pay_run"] = await pay_run(sw, sw.db, created["id"], pay)
        result["invariants"] = await sw.ledger.check_invariants() or "ok"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bills", type=int, default=100_000)
    parser.add_argument("--pay", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        work = Path(tmp)
        services = ServicesConfig(data_dir=str(work / "data"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urls = ensure_running(services)
        try:
            result = trio.run(main_async, urls, work, args.bills, min(args.pay, args.bills))
        finally:
            stop(services)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
