"""Ledger group-commit benchmark.

    python -m loadtests.ledger_bench [--tasks 1000] [--wallets 10000] [--duration-s 20]

Starts (or reuses) the embedded PostgreSQL, creates a fresh database ``ledger_bench``,
opens ``--wallets`` funded wallets and one biller account, then runs ``--tasks``
concurrent trio tasks, each looping reserve -> post on a random wallet for
``--duration-s`` seconds. Prints reserve+post pairs per second, reserve latency
percentiles, the batch-size distribution, and checks the ledger's invariants at the
end. ``--database-url`` runs against a server of your own (the database is used as
is and must be migrated).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import warnings

import asyncpg
import trio

from switch.config import LedgerConfig, ServicesConfig
from switch.config import load as load_config
from switch.db.migrate import migrate
from switch.ledger import AccountKind, Ledger
from switch.services import ensure_running, postgres


def fresh_database(services: ServicesConfig, name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ensure_running(services)
    postgres.psql(services, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    postgres.psql(services, f'CREATE DATABASE "{name}"')
    url = postgres.url(services, name)

    async def run_migrations() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    trio.run(_in_asyncio, run_migrations)
    return url


async def _in_asyncio(fn) -> None:  # type: ignore[no-untyped-def]
    # asyncpg needs asyncio; borrow the ledger's bridge for one call.
    from switch.db.bridge import AsyncioBridge

    bridge = AsyncioBridge()
    bridge.start()
    try:
        await bridge.run(fn())
    finally:
        bridge.stop()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def bench(url: str, args: argparse.Namespace, cfg: LedgerConfig) -> dict[str, object]:
    async with Ledger.open(url, cfg) as ledger:
        biller = await ledger.open_account(AccountKind.BILLER, "biller:bench", "Bench biller")
        wallets = await ledger.open_accounts(
            AccountKind.WALLET,
            [(f"wallet:bench:{i}", f"Bench agent {i}") for i in range(args.wallets)],
        )
        async with trio.open_nursery() as nursery:
            for w in wallets:
                nursery.start_soon(ledger.top_up, w.id, 10**9, f"bench-fund-{w.id}")
        wallet_ids = [w.id for w in wallets]
        latencies: list[float] = []
        pairs = 0
        stop_at = 0.0
        run_id = f"{time.time_ns()}"

        async def worker(n: int) -> None:
            nonlocal pairs
            rng = random.Random(n)
            i = 0
            while time.perf_counter() < stop_at:
                key = f"bench:{run_id}:{n}:{i}"
                i += 1
                t0 = time.perf_counter()
                await ledger.reserve(
                    key, rng.choice(wallet_ids), biller.id, rng.randint(100, 500_00)
                )
                latencies.append(time.perf_counter() - t0)
                await ledger.post(key)
                pairs += 1

        before = ledger.statistics()
        batches0, hist0 = before.batches, dict(before.size_histogram)
        started = time.perf_counter()
        stop_at = started + args.duration_s
        async with trio.open_nursery() as nursery:
            for n in range(args.tasks):
                nursery.start_soon(worker, n)
        elapsed = time.perf_counter() - started
        stats = ledger.statistics()
        hist = {k: v - hist0.get(k, 0) for k, v in sorted(stats.size_histogram.items())}
        violations = await ledger.check_invariants()
    latencies.sort()
    return {
        "tasks": args.tasks,
        "wallets": args.wallets,
        "duration_s": round(elapsed, 2),
        "pairs": pairs,
        "pairs_per_s": round(pairs / elapsed),
        "reserve_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "reserve_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "batches": stats.batches - batches0,
        "mean_batch": round(2 * pairs / max(1, stats.batches - batches0), 1),
        "batch_size_histogram": {f"<={k}": v for k, v in hist.items() if v},
        "invariants_ok": not violations,
        "violations": violations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--pipeline-depth", type=int, default=None)
    parser.add_argument("--max-batch", type=int, default=None)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    cfg = load_config()
    ledger_cfg = cfg.ledger
    if args.pipeline_depth:
        ledger_cfg = LedgerConfig(**{**ledger_cfg.__dict__, "pipeline_depth": args.pipeline_depth})
    if args.max_batch:
        ledger_cfg = LedgerConfig(**{**ledger_cfg.__dict__, "max_batch": args.max_batch})
    url = args.database_url or fresh_database(cfg.services, "ledger_bench")
    result = trio.run(bench, url, args, ledger_cfg)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"ledger bench: {result['tasks']} tasks, {result['wallets']} wallets, "
        f"{result['duration_s']} s"
    )
    print(f"  reserve+post pairs/s : {result['pairs_per_s']:,}")
    print(
        f"  reserve latency      : p50 {result['reserve_p50_ms']} ms, "
        f"p99 {result['reserve_p99_ms']} ms"
    )
    print(f"  batches              : {result['batches']:,} (mean {result['mean_batch']} requests)")
    print(
        "  batch sizes          : "
        + ", ".join(f"{k}: {v}" for k, v in result["batch_size_histogram"].items())
    )  # type: ignore[union-attr]
    print(f"  invariants           : {'ok' if result['invariants_ok'] else result['violations']}")


if __name__ == "__main__":
    main()
