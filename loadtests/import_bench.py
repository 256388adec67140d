"""Bulk import throughput and memory: agents with their KYC, their opening balances,
and payment history, each file imported by ``switch import`` as a child process.

    python -m loadtests.import_bench [--agents 100000] [--history 1000000]

Runs on an embedded PostgreSQL of its own (a temporary directory). For each file it
prints rows/s (the whole run: the checking pass, the writing pass, the protocol) and
the importer's peak RSS, sampled from /proc every 0.1 s; the history is imported at two
sizes (a fifth, and all of it) so the figures show whether memory grows with the file;
``migration`` is the agents file and the whole history together.
Then the ledger's invariants and the migration suspense account are checked.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
import trio

from switch.config import ServicesConfig
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.imports.agents import AGENT_FIELDS
from switch.ledger import Ledger
from switch.services import ensure_running, stop

ADULT = (dt.date.today() - dt.timedelta(days=365 * 35)).strftime("%d-%m-%Y")


def agents_file(path: Path, n: int) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["legacy_ref", *AGENT_FIELDS, "region"])  # the order of the values below
        for i in range(n):
            pan = f"{chr(65 + i // 260000 % 26)}{chr(65 + i // 10000 % 26)}CPE{i % 10000:04d}F"
            w.writerow(
                [
                    f"OLD-{i}",
                    f"Shop {i}",
                    f"s{i}@example.in",
                    f"9{i % 10**9:09d}",
                    ADULT,
                    pan,
                    f"FPS-OLD-{i}",
                    "1 Main Road",
                    "2 Bazaar",
                    f"{10**11 + i}",
                    "SBIN0001234",
                    "Purvanchal",
                ]
            )
    return path


def balances_file(path: Path, n: int) -> tuple[Path, int]:
    total = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "amount"])
        for i in range(n):
            paise = 1_000_00 + (i * 7919) % 5_000_000
            total += paise
            w.writerow([f"OLD-{i}", f"{paise // 100:,}.{paise % 100:02d}"])
    return path, total


def history_file(path: Path, n: int, prefix: str = "R") -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["legacy_ref", "biller", "account", "amount", "paid_at", "status", "agent"])
        for i in range(n):
            w.writerow(
                [
                    f"{prefix}{i:08d}",
                    "UPPCL" if i % 3 else "JALSEWA",
                    f"{2_001_000_000 + i % 50000}",
                    f"{100 + i % 4900}.{i % 100:02d}",
                    f"{1 + i % 28:02d}-{1 + i % 12:02d}-2025 {i % 24:02d}:{i % 60:02d}",
                    "posted" if i % 19 else "failed",
                    f"OLD-{i % 1000}",
                ]
            )
    return path


def timed(env: dict[str, str], *args: str) -> dict[str, Any]:
    """``switch import ARGS`` in a child process: wall time, peak RSS, its protocol."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "import", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = 0
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    out, err = proc.communicate()
    wall_s = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"switch import {' '.join(args)} failed: {err.decode()[-2000:]}")
    p = json.loads(out)
    rows = p["rows"]["read"]
    return {
        "rows": rows,
        "accepted": p["rows"]["accepted"],
        "rejected": p["rows"]["rejected"],
        "wall_s": round(wall_s, 1),
        "rows_per_s": round(rows / wall_s),
        "peak_rss_mib": round(peak / 2**20, 1),
    }


async def check(url: str) -> dict[str, Any]:
    async with Database.open(url, 2) as db, Ledger.open(db) as ledger:
        return {
            "invariants": await ledger.check_invariants() or "ok",
            "suspense_paise": (await ledger.account_by_code("system:migration")).balance_paise,
            "agents": await db.fetchval("SELECT count(*) FROM agents"),
            "history": await db.fetchval("SELECT count(*) FROM legacy_pays"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        work = Path(tmp)
        services = ServicesConfig(data_dir=str(work / "data"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urls = ensure_running(services)
        try:
            trio.run(_migrate, urls.database_url)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
            env |= {
                "SWITCH_DATABASE_URL": urls.database_url,
                "SWITCH_REDIS_URL": urls.redis_url,
                "SWITCH_DATA_DIR": str(work / "data"),
            }
            result: dict[str, Any] = {}
            result["agents"] = timed(
                env, "agents", str(agents_file(work / "a.csv", args.agents)), "--approved"
            )
            path, total = balances_file(work / "b.csv", args.agents)
            result["balances"] = timed(
                env,
                "balances",
                str(path),
                "--control-count",
                str(args.agents),
                "--control-total",
                f"{total // 100}.{total % 100:02d}",
            )
            small = history_file(work / "h-small.csv", args.history // 5, prefix="S")
            result["history_fifth"] = timed(env, "history", str(small))
            big = history_file(work / "h.csv", args.history)
            result["history"] = timed(env, "history", str(big))
            # The migration as the benchmark names it: the agents file and the big history.
            rows = result["agents"]["rows"] + result["history"]["rows"]
            wall_s = result["agents"]["wall_s"] + result["history"]["wall_s"]
            result["migration"] = {"rows": rows, "wall_s": round(wall_s, 1),
                                   "rows_per_s": round(rows / wall_s)}  # fmt: skip
            result["check"] = trio.run(check, urls.database_url)
            result["balances_total_paise"] = total
        finally:
            stop(services)
    print(json.dumps(result, default=str))


async def _migrate(url: str) -> None:
    async with Database.open(url, 1) as db:
        await db.run(migrate)


if __name__ == "__main__":
    main()
