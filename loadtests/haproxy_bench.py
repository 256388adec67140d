"""Pays per second through HAProxy, with 1 switch node and with 2, and the CPU each
process spends per fetch+pay pair.

    python -m loadtests.haproxy_bench [--nodes 1,2] [--terminals 120] [--warmup-s 8]
                                      [--window-s 20] [--runs 1]

Each node is its own ``switch serve`` (as if on its own machine) on one embedded
PostgreSQL and Redis (a temporary data directory), behind Debian's haproxy with the
configuration ``python -m switch.ops.haproxy`` generates. The biller is the switch's
built-in stub, so that the nodes, HAProxy and PostgreSQL are what is measured. The
fleet pays through HAProxy's one address. CPU is read from /proc over a steady window
as in loadtests/cpu_bench.py. On a machine with fewer cores than nodes + PostgreSQL,
more nodes only share the same cores: the figure that carries to bigger machines is
CPU per pair, not pairs/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import trio

from loadtests.cpu_bench import children_of, sample
from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from switch.config import ServicesConfig
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.ledger import Ledger
from switch.ops.haproxy import Node, haproxy_config
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ensure_running, postgres, stop
from switch.services.common import free_tcp_port

WALLET_PAISE = 1_00_00_000_00
CONFIG = """
[sms]
enabled = false
[admin]
enabled = false
default_max_balance_paise = 100000000000
default_per_day_paise = 100000000000
[[billers]]
id = "UPPCL"
name = "UPPCL (stub)"
connector = "stub"
"""


def ready(port: int) -> bool:
    """Whether the switch whose metrics port is ``port`` says it is ready."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Bench:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir = workdir
        self.args = args
        self.services = ServicesConfig(data_dir=str(workdir / "data"))

    def run(self) -> list[dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.urls = ensure_running(self.services)
        try:
            (self.workdir / "switch.toml").write_text(CONFIG)
            self.front = free_tcp_port()
            self.creds = trio.run(self._provision)
            results = []
            for _ in range(self.args.runs):
                for n in self.args.nodes:
                    results.append(self._one(n))
            return results
        finally:
            stop(self.services)

    async def _provision(self) -> list[Any]:
        async with Database.open(self.urls.database_url, 4) as db:
            await db.run(migrate)
            async with Ledger.open(db) as ledger:
                key = public_bytes(load_or_create(self.workdir / "switch.key"))
                return await provision_fleet(
                    db, ledger, key, f"127.0.0.1:{self.front}",
                    agents=self.args.terminals, wallet_paise=WALLET_PAISE, prefix="HAP",
                )  # fmt: skip

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
        return env | {
            "SWITCH_CONFIG": str(self.workdir / "switch.toml"),
            "SWITCH_DATA_DIR": str(self.workdir / "data"),
            "SWITCH_DATABASE_URL": self.urls.database_url,
            "SWITCH_REDIS_URL": self.urls.redis_url,
            "SWITCH_TERMINALS_IDENTITY_KEY_FILE": str(self.workdir / "switch.key"),
            # Behind HAProxy every connection comes from one address.
            "SWITCH_TERMINALS_MAX_CONNECTIONS_PER_IP": "100000",
            "SWITCH_TERMINALS_CONNECT_BURST_PER_IP": "100000",
            "SWITCH_TERMINALS_CONNECT_RATE_PER_IP_PER_S": "100000",
            # Capacity, not a terminal's manners: no per-terminal request rate.
            "SWITCH_TERMINALS_RATE_PER_S": "100000",
            "SWITCH_TERMINALS_RATE_BURST": "100000",
        }

    def _one(self, count: int) -> dict[str, Any]:
        nodes = [Node(f"n{i}", "127.0.0.1", free_tcp_port(), free_tcp_port()) for i in range(count)]
        cfg_file = self.workdir / "haproxy.cfg"
        cfg_file.write_text(haproxy_config(nodes, f"127.0.0.1:{self.front}", maxconn=5000))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for n in nodes:
                command = [sys.executable, "-m", "switch", "serve", "--port", str(n.terminal_port)]
                command += ["--metrics-port", str(n.metrics_port)]
                log = (self.workdir / f"{n.name}.log").open("ab")
                procs.append(subprocess.Popen(command, env=self._env(), stdout=log, stderr=log))
            _wait(lambda: all(ready(n.metrics_port) for n in nodes), "the nodes")
            haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg_file)])
            procs.append(haproxy)
            _wait(lambda: accepts(self.front), "HAProxy")
            time.sleep(1.5)  # every node past its first health checks
            groups = {f"switch {n.name}": [p.pid] for n, p in zip(nodes, procs, strict=False)}
            groups["haproxy"] = [haproxy.pid]
            return {"nodes": count, **trio.run(self._measure, groups)}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)

    async def _measure(self, groups: dict[str, list[int]]) -> dict[str, Any]:
        stats, result = FleetStats(), {}
        groups["fleet (load)"] = [os.getpid()]
        warmup_s, window_s = self.args.warmup_s, self.args.window_s

        async def window() -> None:
            await trio.sleep(warmup_s)
            pg = postgres.running_pid(self.services)
            assert pg is not None
            groups["postgresql"] = [pg, *children_of(pg)]  # its backends are all there now
            before, done_before, t0 = sample(groups), stats.pays_ok, time.perf_counter()
            latencies_from = len(stats.pay_latencies_s)
            await trio.sleep(window_s)
            after, took = sample(groups), time.perf_counter() - t0
            done = stats.pays_ok - done_before
            lat = sorted(stats.pay_latencies_s[latencies_from:]) or [0.0]
            result["pairs_per_s"] = round(done / took, 1)
            result["p50_ms"] = round(lat[len(lat) // 2] * 1000, 1)
            result["p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000, 1)
            result["us_per_pair"] = {
                name: round((after[name] - before[name]) * 1e6 / max(done, 1)) for name in groups
            }

        # The stub's accounts: ten digits, not starting with 0 (none ending in 99,
        # which it rejects).
        consumers = [Consumer("UPPCL", f"{1_000_000_000 + n * 7:010d}") for n in range(5000)]
        consumers = [c for c in consumers if not c.account.endswith("99")]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(window)
            await run_fleet(
                self.creds, consumers, warmup_s + window_s + 1, stats=stats,
                amount=pay_part(random.Random(1)), request_timeout_s=10,
            )  # fmt: skip
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="1,2", help="node counts to compare")
    parser.add_argument("--terminals", type=int, default=120)
    parser.add_argument("--warmup-s", type=float, default=8.0)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1, help="each node count this often")
    args = parser.parse_args()
    args.nodes = [int(n) for n in args.nodes.split(",")]
    if shutil.which("haproxy") is None:
        sys.exit("haproxy is not installed (apt-get install haproxy)")
    with tempfile.TemporaryDirectory(prefix="haproxy-bench-") as tmp:
        results = Bench(Path(tmp), args).run()
    for r in results:
        print(json.dumps(r))
    for n in args.nodes:
        mine = [r for r in results if r["nodes"] == n]
        rate = statistics.median(r["pairs_per_s"] for r in mine)
        p99 = statistics.median(r["p99_ms"] for r in mine)
        print(f"{n} node(s): median {rate} pairs/s, p99 {p99} ms over {len(mine)} run(s)")


if __name__ == "__main__":
    main()
