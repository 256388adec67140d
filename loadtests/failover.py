"""Failover drill: the PostgreSQL primary's machine dies under load, its synchronous
standby is promoted, and the switch goes on without a restart; then every paisa is
accounted for in the promoted database.

    python -m loadtests.failover [--duration-s 20] [--terminals 24] [--detect-s 1.0]

It runs on an embedded primary and synchronous standby of its own (a temporary data
directory; ``switch db standby`` makes the standby), a discom simulator and
``switch serve`` as child processes, the switch given the two-server URL
(``target_session_attrs=read-write``), and a fleet in this process. A third of the
way through, the primary's postmaster and every backend are SIGKILLed together (its
machine is gone: nothing is flushed, nothing says goodbye). After ``--detect-s`` (the
time an operator or a cluster manager takes to decide), the standby is promoted
(``switch db promote``). The switch is never restarted: after the promotion the run
checks that it is the same process and that it serves a pay.

Then it waits for every pay to settle and checks, against the promoted server itself,
everything loadtests/accounting.py checks: every pay final, switch posted = biller
applied pay by pay, every ``success`` a terminal was told is a posted pay (the
synchronous standby had it on disk before the terminal was answered), every wallet =
funding - its posted pays, the ledger's invariants.

It prints one JSON object: the failover's times (kill to promoted; promoted to the
first pay served; the longest time no terminal's pay was served), pays/s before and
after, the replication lag measured under load before the kill, and the accounting.
Exit status 1 on any violation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import trio

from loadtests.accounting import account_for_every_paisa, settle
from loadtests.chaos import write_config
from loadtests.chaos_services import Liveness
from simulators.discom.simulator import discom_account
from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from switch.config import ServicesConfig
from switch.db.database import Database
from switch.db.migrate import migrate
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.protocols.http11 import HttpClient
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ensure_running, postgres, standby, stop
from switch.services.common import free_tcp_port

WALLET_PAISE = 1_00_00_000_00  # ₹1 crore per agent: no wallet runs dry
SETTLE_TIMEOUT_S = 120.0
SAMPLE_EVERY_S = 0.05  # pays served, for the outage's edges
LAG_EVERY_S = 0.5
ACCOUNTS = 5000  # enough that no account is paid off within a run


def kill_machine(pid: int) -> int:
    """SIGKILL a postmaster and every process it started, at once (its machine died).
    Returns how many processes were killed."""
    children = _children(pid)
    for victim in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return 1 + len(children)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Drill:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.services = ServicesConfig(data_dir=str(workdir / "data"))
        self.stack = Stack(workdir)
        self.samples: list[tuple[float, int]] = []  # (monotonic time, pays served)
        self.lag: list[dict[str, Any]] = []
        self.times: dict[str, float] = {}

    def run(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            urls = ensure_running(self.services)
        try:
            trio.run(self._migrate, urls.database_url)
            standby.make_standby(self.services, synchronous=True)
            self.url = postgres.url(self.services)  # both servers, read-write wanted
            discom = self.stack.start_simulator("discom", seed=1, accounts=ACCOUNTS)
            self.discom = discom
            config = write_config(self.workdir, discom)
            self.port = free_tcp_port()
            self.stack.start_switch(config, self.url, urls.redis_url, self.port)
            return trio.run(self._scenario)
        finally:
            self.stack.stop()
            stop(self.services)

    async def _migrate(self, url: str) -> None:
        async with Database.open(url, 1) as db:
            await db.run(migrate)

    async def _scenario(self) -> dict[str, Any]:
        key = public_bytes(load_or_create(self.workdir / "switch.key"))
        async with Database.open(self.url, 4) as db, Ledger.open(db) as ledger:
            *creds, probe = await provision_fleet(
                db, ledger, key, f"127.0.0.1:{self.port}",
                agents=self.args.terminals + 1, wallet_paise=WALLET_PAISE, prefix="FAIL",
            )  # fmt: skip
        consumers = [Consumer("UPPCL", discom_account(1, n)) for n in range(ACCOUNTS - 1)]
        self.liveness = Liveness(
            lambda: self.stack.children["switch"], probe, discom_account(1, ACCOUNTS - 1)
        )
        stats = self.stats = FleetStats()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sample_pays)
            nursery.start_soon(self._sample_lag)
            nursery.start_soon(self._fail_over)
            # Part payments, so that no account runs out of dues during the run.
            await run_fleet(
                creds, consumers, self.args.duration_s, stats=stats, request_timeout_s=5,
                amount=pay_part(random.Random(1)),
            )  # fmt: skip
            nursery.cancel_scope.cancel()
        if "promoted" not in self.times:
            self.liveness.violations.append("the drill ended before the standby was promoted")
        return await self._settle_and_check(stats)

    async def _fail_over(self) -> None:
        await trio.sleep(self.args.duration_s / 3)
        self.pid_before = self.liveness.alive("before the primary was killed")
        pid = postgres.running_pid(self.services)
        assert pid is not None, "the primary is not running"
        self.times["killed"] = time.monotonic()
        self.killed_processes = kill_machine(pid)
        await trio.sleep(self.args.detect_s)
        await trio.to_thread.run_sync(standby.promote, self.services)
        self.times["promoted"] = time.monotonic()
        # The same switch, serving: a probe terminal's pay, while the fleet goes on.
        await self.liveness.check("failover", self.pid_before, self.times["promoted"])

    async def _sample_pays(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.stats.pays_ok))
            await trio.sleep(SAMPLE_EVERY_S)

    async def _sample_lag(self) -> None:
        """The standby's lag as the primary reports it, until the primary is gone."""
        primary = postgres.paths(self.services)
        while "killed" not in self.times:
            rows = await trio.to_thread.run_sync(standby.replication, self.services, primary)
            if "killed" in self.times:
                return
            self.lag.extend(r for r in rows if r["state"] == "streaming")
            await trio.sleep(LAG_EVERY_S)

    async def _settle_and_check(self, stats: FleetStats) -> dict[str, Any]:
        self.liveness.alive("at the end")
        new_primary = postgres.paths(self.services)
        biller = HttpClient(
            f"http://127.0.0.1:{self.discom}", timeout_s=30, max_response_bytes=256 * 1024 * 1024
        )
        # Against the promoted server itself, not through the two-server URL.
        promoted_url = postgres.node_url(new_primary, self.services.database_name)
        async with Database.open(promoted_url, 2) as db, Ledger.open(db) as ledger:
            settled = await settle(db, SETTLE_TIMEOUT_S)
            books = await account_for_every_paisa(db, ledger, biller, stats, WALLET_PAISE)
        await biller.aclose()
        violations = [*self.liveness.violations, *books["violations"]]
        if not settled:
            violations.append(f"pays still open {SETTLE_TIMEOUT_S:.0f} s after the run")
        return {
            "promoted_server": new_primary.name,
            "processes_killed": self.killed_processes,
            **self._failover_times(),
            **self._lag_figures(),
            **books,
            "back_to_served_s": self.liveness.back_to_served_s,
            "violations": violations,
        }

    def _failover_times(self) -> dict[str, Any]:
        killed, promoted = self.times["killed"], self.times.get("promoted", float("nan"))
        served_after = next(
            (t for t, n in self.samples if t > promoted and n > self._served_at(promoted)), None
        )
        gaps, last_t, last_n = [], None, -1
        for t, n in self.samples:
            if n > last_n:
                if last_t is not None:
                    gaps.append(t - last_t)
                last_t, last_n = t, n
        started, ended = self.samples[0][0], self.samples[-1][0]
        return {
            "kill_to_promoted_s": round(promoted - killed, 3),
            "promoted_to_first_pay_s": round(served_after - promoted, 3) if served_after else None,
            "longest_no_pay_served_s": round(max(gaps, default=0.0), 3),
            "pays_per_s_before_kill": round(self._served_at(killed) / (killed - started), 1),
            "pays_per_s_after_promotion": round(
                (self.samples[-1][1] - self._served_at(promoted)) / max(0.1, ended - promoted), 1
            ),
        }

    def _served_at(self, moment: float) -> int:
        return max((n for t, n in self.samples if t <= moment), default=0)

    def _lag_figures(self) -> dict[str, Any]:
        def figure(key: str) -> dict[str, float] | None:
            values = [float(r[key]) for r in self.lag if r.get(key) is not None]
            if not values:
                return None
            return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}

        return {
            "replication_samples": len(self.lag),
            "sync_state": sorted({r["sync_state"] for r in self.lag}),
            "flush_lag_ms": figure("flush_lag_ms"),
            "replay_lag_ms": figure("replay_lag_ms"),
            "lag_bytes": figure("lag_bytes"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--terminals", type=int, default=40)
    parser.add_argument("--detect-s", type=float, default=1.0, help="kill to promotion")
    parser.add_argument("--workdir", help="keep the servers' data and logs here")
    args = parser.parse_args()
    if args.workdir:
        shutil.rmtree(args.workdir, ignore_errors=True)
        Path(args.workdir).mkdir(parents=True)
        result = Drill(args, Path(args.workdir)).run()
    else:
        with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
            result = Drill(args, Path(tmp)).run()
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["violations"] else 0)


if __name__ == "__main__":
    main()
