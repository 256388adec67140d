"""Settlement, reconciliation and MIS on a large business day.

    python -m loadtests.settlement_bench [--pays 100000] [--agents 1000] [--json]

Starts (or reuses) the embedded PostgreSQL and creates a fresh database
``settlement_bench``. Builds one business day: ``--agents`` agents with funded
wallets and a terminal each, and ``--pays`` posted pays over two billers, each with
its ledger hold reserved and posted (as the pay flow leaves them) and its row in
``pays``, stamped within the hour before the cut-off. Then times, each on its own:

1. closing, filing and settling both billers' windows (``Settlement.close``: the
   snapshot into settlement_items, the CSV file and its checksum, the ledger
   transfers — commissions to every agent's wallet, fee, net — in one transaction);
2. closing them again (idempotent: nothing moves, the same file);
3. reconciling both against a biller report of every pay, with ``--breaks`` lines
   skewed so that there is something to find (the report is made in memory: the
   biller is the outside world);
4. MIS: totals by agent, by region and district, and one agent's statement.

It checks what must hold afterwards (each biller's payable back to 0, the ledger's
invariants, the breaks found exactly) and prints the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from loadtests.ledger_bench import fresh_database
from switch.config import BillerConfig, SettlementConfig
from switch.config import load as load_config
from switch.db.database import Database
from switch.ledger import AccountKind, Ledger
from switch.ledger.types import pay_key
from switch.protocols.billers.base import ReportedPayment
from switch.provisioning.fleet import provision_fleet
from switch.settlement import reports
from switch.settlement.calendar import IST, Calendar
from switch.settlement.recon import Reconciler
from switch.settlement.service import Settlement

T = TypeVar("T")
BILLERS = (
    BillerConfig(id="UPPCL", name="UPPCL", connector="stub", commission_bps=50, fee_paise=100),
    BillerConfig(id="JALSEWA", name="Jal Sewa", connector="stub", commission_bps=75, fee_paise=50),
)
PAY_COLUMNS = [
    "terminal_id",
    "terminal_ref",
    "agent_id",
    "biller_id",
    "consumer_account",
    "amount_paise",
    "state",
    "biller_txn_id",
    "created_at",
    "updated_at",
]
RESERVING_TASKS = 500  # concurrent reserve+post pairs while building the day


class BookOfTheBiller:
    """The biller's side for reconciliation: its daily report (all of it on the first
    day asked for), as ``books_of_the_billers`` made it."""

    def __init__(self, lines: list[ReportedPayment]) -> None:
        self._lines = lines
        self._served: set[dt.date] = set()

    async def report(self, day: dt.date) -> list[ReportedPayment]:
        if self._served:  # every line on the first day asked for; the rest are empty
            return []
        self._served.add(day)
        return self._lines


async def timed(what: str, figures: dict[str, float], fn: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await fn()
    figures[what] = round(time.perf_counter() - started, 3)
    return result


async def build_day(
    db: Database, ledger: Ledger, args: argparse.Namespace, rng: random.Random
) -> tuple[list[tuple[Any, ...]], float]:
    """Agents, terminals and posted pays (ledger and rows); the rows and the seconds."""
    started = time.perf_counter()
    for b in BILLERS:
        await ledger.open_account(AccountKind.BILLER, f"biller:{b.id}", b.name)
        await ledger.open_account(AccountKind.RECEIVABLE, f"receivable:{b.id}", b.name)
    payable = {b.id: (await ledger.account_by_code(f"biller:{b.id}")).id for b in BILLERS}
    identity = Ed25519PrivateKey.generate().public_key()
    creds = await provision_fleet(
        db,
        ledger,
        identity.public_bytes(Encoding.Raw, PublicFormat.Raw),
        "127.0.0.1:1",
        agents=args.agents,
        wallet_paise=10**9,
        prefix="SB",
    )
    wallets = dict(
        (r["id"], r["wallet_account_id"])
        for r in await db.fetch("SELECT id, wallet_account_id FROM agents")
    )
    now: dt.datetime = await db.fetchval("SELECT now()")
    rows: list[tuple[Any, ...]] = []
    for n in range(args.pays):
        c = creds[n % len(creds)]
        biller = "UPPCL" if rng.random() < 0.7 else "JALSEWA"
        at = now - dt.timedelta(seconds=rng.uniform(5, 3600))
        account = f"{rng.randrange(10**10):010d}"
        amount = rng.randint(100_00, 5_000_00)
        row = (c.terminal_id, f"R{n}", c.agent_id, biller, account, amount, "posted")
        rows.append((*row, f"{biller}-{n}", at, at))
    pending = iter(rows)

    async def hold_and_post() -> None:
        for row in pending:  # shared iterator: each row once, across the tasks
            key = pay_key(row[0], row[1])
            await ledger.reserve(key, wallets[row[2]], payable[row[3]], row[5])
            await ledger.post(key)

    async with trio.open_nursery() as nursery:
        for _ in range(RESERVING_TASKS):
            nursery.start_soon(hold_and_post)
    await db.run(lambda c: c.copy_records_to_table("pays", records=rows, columns=PAY_COLUMNS))
    return rows, time.perf_counter() - started


async def books_of_the_billers(
    db: Database, rows: list[tuple[Any, ...]], skewed: set[int]
) -> dict[str, BookOfTheBiller]:
    """Each biller's report: a line per pay of its, the ``skewed`` ones ₹1 short."""
    ids = {r["terminal_ref"]: r["id"] for r in await db.fetch("SELECT id, terminal_ref FROM pays")}
    lines: dict[str, list[ReportedPayment]] = {b.id: [] for b in BILLERS}
    for n, r in enumerate(rows):
        amount = r[5] - (100 if n in skewed else 0)
        lines[r[3]].append(ReportedPayment(ids[r[1]], r[7], r[4], amount, "applied", r[8]))
    return {biller: BookOfTheBiller(its) for biller, its in lines.items()}


async def bench(url: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """The run; settlement files go under ``out_dir``."""
    rng = random.Random(args.seed)
    figures: dict[str, float] = {}
    async with Database.open(url) as db, Ledger.open(url, load_config().ledger) as ledger:
        rows, built_s = await build_day(db, ledger, args, rng)
        cut: dt.datetime = await db.fetchval("SELECT now()")
        cal = Calendar(cut.astimezone(IST).time(), frozenset(), frozenset())
        day = cal.business_date(cut - dt.timedelta(seconds=1))
        settlement = Settlement(db, BILLERS, SettlementConfig(close_grace_s=0), out_dir, cal)

        async def close_all() -> list[Any]:
            return [await settlement.close(b.id, day, now=cut) for b in BILLERS]

        windows = await timed("settle_s", figures, close_all)
        again = await timed("settle_again_s", figures, close_all)
        assert again == windows, "closing again changed a window"
        payables = [(await ledger.account_by_code(f"biller:{b.id}")).balance_paise for b in BILLERS]

        skewed = set(rng.sample(range(len(rows)), args.breaks))
        books = await books_of_the_billers(db, rows, skewed)
        reconciler = Reconciler(db, cal, books)  # type: ignore[arg-type]

        async def reconcile_all() -> list[Any]:
            return [await reconciler.run(b.id, day) for b in BILLERS]

        summaries = await timed("reconcile_s", figures, reconcile_all)
        first, last = day - dt.timedelta(days=1), day
        by_agent = await timed(
            "totals_by_agent_s",
            figures,
            lambda: reports.totals(db, ["agent"], first, last, BILLERS),
        )
        await timed(
            "totals_by_region_district_s",
            figures,
            lambda: reports.totals(db, ["region", "district"], first, last, BILLERS),
        )
        statement = await timed(
            "agent_statement_s",
            figures,
            lambda: reports.agent_statement(db, rows[0][2], first, last, BILLERS),
        )
        violations = await ledger.check_invariants()
    found = sum(s.breaks["amount_mismatch"] for s in summaries)
    return {
        "pays": len(rows),
        "agents": args.agents,
        "build_s": round(built_s, 1),
        **figures,
        "pays_settled_per_s": round(len(rows) / figures["settle_s"]),
        "pays_reconciled_per_s": round(len(rows) / figures["reconcile_s"]),
        "windows": [
            {
                "biller": w.biller_id,
                "pays": w.pay_count,
                "gross_paise": w.gross_paise,
                "commission_paise": w.commission_paise,
                "fee_paise": w.fee_paise,
                "net_paise": w.net_paise,
                "file_bytes": (out_dir / w.biller_id / f"{w.biller_id}_{day}.csv").stat().st_size,
            }
            for w in windows
        ],
        "matched": sum(s.matched for s in summaries),
        "breaks_found": found,
        "breaks_made": args.breaks,
        "mis_agents": len(by_agent),
        "statement_payments": len(statement["payments"]),
        "payables_after_paise": payables,
        "ok": not violations and found == args.breaks and payables == [0, 0],
        "violations": violations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pays", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--breaks", type=int, default=25, help="report lines skewed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not 0 <= args.breaks <= args.pays or args.agents < 1:
        parser.error("need 1+ agents and 0..pays breaks")
    url = fresh_database(load_config().services, "settlement_bench")
    with tempfile.TemporaryDirectory(prefix="settlement-bench-") as out_dir:
        result = trio.run(bench, url, args, Path(out_dir))
    if args.json:
        print(json.dumps(result))
        return
    print(f"settlement bench: {result['pays']:,} pays, {result['agents']:,} agents, 2 billers")
    print(f"  day built in            : {result['build_s']} s (ledger holds + rows)")
    print(
        f"  close + file + settle   : {result['settle_s']} s "
        f"({result['pays_settled_per_s']:,} pays/s); again (idempotent): "
        f"{result['settle_again_s']} s"
    )
    for w in result["windows"]:
        print(
            f"    {w['biller']:8} {w['pays']:>7,} pays, gross {w['gross_paise'] / 100:,.2f} Rs, "
            f"net {w['net_paise'] / 100:,.2f} Rs, file {w['file_bytes'] / 1e6:.2f} MB"
        )
    print(
        f"  reconcile               : {result['reconcile_s']} s "
        f"({result['pays_reconciled_per_s']:,} pays/s); {result['matched']:,} matched, "
        f"{result['breaks_found']} of {result['breaks_made']} breaks found"
    )
    print(
        f"  MIS                     : totals by agent {result['totals_by_agent_s']} s, "
        f"by region+district {result['totals_by_region_district_s']} s, "
        f"one statement {result['agent_statement_s']} s"
    )
    print(f"  payables after          : {result['payables_after_paise']}")
    print(f"  checks                  : {'ok' if result['ok'] else result['violations']}")


if __name__ == "__main__":
    main()
