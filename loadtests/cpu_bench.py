"""CPU time per fetch+pay pair, for each process of the demo's world, from /proc.

    python -m loadtests.cpu_bench [--runs 3] [--terminals 200] [--warmup-s 10] [--window-s 30]
                                  [--workers N] [--partner N] [--steps]

Starts the demo's world (the switch, the discom and water simulators and the SMS
gateway, each its own process, on the embedded PostgreSQL and Redis), drives it with
the fleet of simulated terminals in this process, lets it warm up, then reads every
process's CPU time (user + system, all threads; PostgreSQL's postmaster and every
backend) at the start and the end of a steady window and divides by the pays
completed in it. Throughput swings with a noisy machine; CPU per pair does not, so
this is the figure to compare before and after a change. It also gives PostgreSQL's
commits, WAL records, WAL bytes and the history tables' growth on disk per pair over
the same window. Prints one table per run and the median of each column over the
runs (``--json`` for one JSON object).

With ``--steps`` the switch also counts trio's scheduler passes and the tasks it
spawns (``[ops] count_scheduler_steps``), printed per pair: a figure that does not move
with the machine's noise, for a change to the request path's awaits.

With ``--partner N`` the load is the demo's bank instead of the terminals: N signed
fetch+pay requests in flight at once through the partner API (simulators/partner),
the figures per pair the same way, so the two channels' costs can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import trio

from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from simulators.partner.client import PartnerClient, PartnerCredentials
from simulators.partner.load import LoadResult, run_load
from simulators.run import consumer_accounts
from switch.config import load as load_config
from switch.demo.setup import DEMO_DB, DISCOM_ACCOUNTS, WATER_ACCOUNTS, DemoStack, demo_stack
from switch.protocols.http11 import HttpClient
from switch.services import postgres
from switch.services import redis as redis_service

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def sample(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each group of processes (gone ones count nothing)."""
    out = {}
    for name, pids in groups.items():
        total = 0.0
        for pid in pids:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += cpu_s(pid)
        out[name] = total
    return out


def groups_of(demo: DemoStack) -> dict[str, list[int]]:
    cfg = load_config(demo.config_file, environ={}).services
    groups = {name: [child.pid] for name, child in demo.stack.children.items()}
    groups["switch"] += children_of(groups["switch"][0])  # its workers, if any
    pg = postgres.running_pid(cfg)
    if pg is not None:
        groups["postgresql"] = [pg, *children_of(pg)]
    redis = redis_service.running_pid(cfg)
    if redis is not None:
        groups["redis"] = [redis]
    groups["fleet (load)"] = [os.getpid()]
    return groups


async def measure(
    demo: DemoStack,
    warmup_s: float,
    window_s: float,
    seed: int,
    partner: int = 0,
    count_steps: bool = False,
) -> dict[str, Any]:
    consumers = [Consumer("UPPCL", a) for a in consumer_accounts("discom", seed, DISCOM_ACCOUNTS)]
    consumers += [Consumer("JALSEWA", a) for a in consumer_accounts("water", seed, WATER_ACCOUNTS)]
    stats = FleetStats()
    bank = LoadResult()
    result: dict[str, Any] = {}

    def pairs() -> int:
        return bank.pays if partner else _pairs(stats)

    async def window() -> None:
        await trio.sleep(warmup_s)
        groups = groups_of(demo)  # PostgreSQL's backends are all there by now
        writes = await trio.to_thread.run_sync(pg_writes, demo)
        steps = await switch_steps(demo) if count_steps else {}
        before, pays, t0 = sample(groups), pairs(), time.perf_counter()
        await trio.sleep(window_s)
        after, done, took = sample(groups), pairs() - pays, time.perf_counter() - t0
        if count_steps:
            steps_after = await switch_steps(demo)
            result["switch_per_pair"] = {
                k: round((steps_after[k] - steps[k]) / max(done, 1), 2) for k in steps
            }
        writes_after = await trio.to_thread.run_sync(pg_writes, demo)
        result["postgresql_per_pair"] = {
            k: round((writes_after[k] - writes[k]) / max(done, 1), 2) for k in writes
        }
        result["pairs"] = done
        result["pairs_per_s"] = round(done / took, 1)
        result["us_per_pair"] = {
            name: round((after[name] - before[name]) * 1e6 / max(done, 1)) for name in groups
        }
        result["us_per_pair"]["total"] = sum(result["us_per_pair"].values())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(window)
        if partner:
            await _bank(demo, consumers, warmup_s + window_s + 1, partner, bank)
            result["p99_ms"] = bank.summary()["p99_ms"]
        else:
            await run_fleet(
                demo.credentials,
                consumers,
                warmup_s + window_s + 1,
                seed=seed,
                stats=stats,
                amount=pay_part(random.Random(seed)),
            )
    return result


async def _bank(
    demo: DemoStack,
    consumers: list[Consumer],
    duration_s: float,
    concurrency: int,
    into: LoadResult,
) -> None:
    assert demo.partner_credentials is not None and demo.partner_port is not None
    creds = PartnerCredentials.from_file(demo.partner_credentials)
    pairs = [(c.biller, c.account) for c in consumers]
    async with PartnerClient(creds, f"http://127.0.0.1:{demo.partner_port}") as client:
        await run_load(
            client,
            pairs,
            duration_s=duration_s,
            concurrency=concurrency,
            duplicate_share=0.0,
            key_prefix="BENCH",
            result=into,
        )


# On disk: every partition of the history tables with their indexes, and the tables of
# keys that stay unique across months (docs/history.md).
HISTORY_BYTES_SQL = """(SELECT sum(pg_total_relation_size(t.relid))
      FROM (SELECT relid FROM pg_partition_tree('pays') UNION ALL
            SELECT relid FROM pg_partition_tree('transfers') UNION ALL
            SELECT relid FROM pg_partition_tree('sms_outbox') UNION ALL
            SELECT 'pay_refs'::regclass UNION ALL SELECT 'transfer_keys'::regclass) t)"""
# Of which the keys, kept for ever (never archived).
KEY_BYTES_SQL = "(pg_total_relation_size('pay_refs') + pg_total_relation_size('transfer_keys'))"


def pg_writes(demo: DemoStack) -> dict[str, float]:
    """PostgreSQL's commits in the demo's database, WAL records and bytes (the whole
    server's: nothing else writes during the run), and the history's bytes on disk."""
    cfg = load_config(demo.config_file, environ={}).services
    row = postgres.psql(
        cfg,
        f"""SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())
                  || ',' || wal_records || ',' || wal_bytes || ',' || {HISTORY_BYTES_SQL}
                  || ',' || {KEY_BYTES_SQL}
             FROM pg_stat_wal""",
        DEMO_DB,
    )
    commits, records, size, history, keys = (float(v) for v in row.split(","))
    return {
        "commits": commits,
        "wal_records": records,
        "wal_bytes": size,
        "history_bytes": history,
        "key_bytes": keys,
    }


async def switch_steps(demo: DemoStack) -> dict[str, float]:
    """The switch's scheduler passes and spawned tasks so far, from its /metrics
    (``[ops] count_scheduler_steps``, set by ``--steps``)."""
    port = demo.stack.ports["switch_metrics"]
    client = HttpClient(f"http://127.0.0.1:{port}")
    try:
        text = (await client.get("/metrics")).body.decode()
    finally:
        await client.aclose()
    wanted = {
        "switch_scheduler_steps_total": "scheduler_steps",
        "switch_tasks_spawned_total": "tasks",
    }
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            found[wanted[name]] = float(value)
    assert len(found) == len(wanted), "the switch does not count its steps"
    return found


def _pairs(stats: FleetStats) -> int:
    return stats.pays_ok + stats.pays_failed + stats.pays_pending


def one_run(
    terminals: int,
    warmup_s: float,
    window_s: float,
    seed: int,
    workers: int = 1,
    partner: int = 0,
    count_steps: bool = False,
) -> dict[str, Any]:
    cfg = load_config()
    if count_steps:  # the switch reads its configuration from the environment too
        os.environ["SWITCH_OPS_COUNT_SCHEDULER_STEPS"] = "true"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with demo_stack(cfg, seed=seed, terminals=terminals, workers=workers) as demo:
            return trio.run(measure, demo, warmup_s, window_s, seed, partner, count_steps)


def print_table(title: str, per_pair: dict[str, float], pairs_per_s: float) -> None:
    print(f"\n{title}: {pairs_per_s} pairs/s")
    print("| process | CPU µs per fetch+pay pair |\n|---|---|")
    for name, us in per_pair.items():
        print(f"| {name} | {us:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=1, help="switch serve --workers")
    parser.add_argument(
        "--partner", type=int, default=0, help="load: the bank, N requests in flight"
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="also trio's scheduler passes and spawned tasks per pair in the switch "
        "(exact where CPU is noisy; the count costs the switch a little CPU)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object, no tables")
    args = parser.parse_args()
    if args.steps and args.workers != 1:
        parser.error("--steps reads one switch process's metrics: use --workers 1")
    runs = [
        one_run(
            args.terminals,
            args.warmup_s,
            args.window_s,
            1 + i,
            args.workers,
            args.partner,
            args.steps,
        )
        for i in range(args.runs)
    ]
    names = list(runs[0]["us_per_pair"])
    median = {n: statistics.median(r["us_per_pair"].get(n, 0) for r in runs) for n in names}
    rate = statistics.median(r["pairs_per_s"] for r in runs)
    keys = list(runs[0]["postgresql_per_pair"])
    writes = {k: statistics.median(r["postgresql_per_pair"][k] for r in runs) for k in keys}
    if args.json:
        out = {"runs": runs, "median_us_per_pair": median, "median_pairs_per_s": rate}
        print(json.dumps(out | {"median_postgresql_per_pair": writes}))
        return
    for i, r in enumerate(runs):
        print_table(f"run {i + 1}", r["us_per_pair"], r["pairs_per_s"])
    print_table(f"median of {len(runs)}", median, rate)
    print("\nPostgreSQL per pair (median): " + ", ".join(f"{k} {v:,}" for k, v in writes.items()))
    if args.steps:
        per_pair = {
            k: statistics.median(r["switch_per_pair"][k] for r in runs)
            for k in ("scheduler_steps", "tasks")
        }
        print("switch per pair (median): " + ", ".join(f"{k} {v:,}" for k, v in per_pair.items()))


if __name__ == "__main__":
    main()
