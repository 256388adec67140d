"""Failover drill: the PostgreSQL primary's machine dies under load, its synchronous
standby is promoted, and the switch goes on without a restart; then every paisa is
accounted for in the promoted database.

    python -m loadtests.failover [--duration-s 20] [--terminals 24] [--detect-s 1.0]

The world is loadtests/drill.py's, with an embedded primary and a synchronous standby
(``switch db standby`` makes it) and the switch given the two-server URL
(``target_session_attrs=read-write``). A third of the way through, the primary's
postmaster and every backend are SIGKILLed together (its machine is gone: nothing is
flushed, nothing says goodbye). After ``--detect-s`` (the time an operator or a
cluster manager takes to decide), the standby is promoted (``switch db promote``).
The switch is never restarted: after the promotion the drill checks that it is the
same process and that it serves a pay.

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
import os
import signal
import statistics
import time
from typing import Any

import trio
import trio.lowlevel

from loadtests.cpu_bench import children_of
from loadtests.drill import Drill, main
from switch.db.database import Database
from switch.services import ServiceError, ServiceUrls, postgres, standby
from switch.services import redis as redis_service

LAG_EVERY_S = 0.5


def kill_machine(pid: int) -> int:
    """SIGKILL a postmaster and every process it started, at once (its machine died).
    Returns how many processes were killed."""
    children = children_of(pid)
    for victim in [pid, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return 1 + len(children)


class Failover(Drill):
    name = "failover"

    def prepare(self, urls: ServiceUrls) -> ServiceUrls:
        standby.make_standby(self.services, synchronous=True)
        self.lag: list[dict[str, Any]] = []
        # Both servers, the writable one wanted.
        return ServiceUrls(postgres.url(self.services), urls.redis_url)

    def bystanders(self) -> dict[str, int | None]:
        # The standby is promoted in place: the same postmaster, now taking writes.
        standby = postgres.node_paths(self.services, "postgres-2")
        return super().bystanders() | {
            "the standby's postmaster": postgres.running_pid(self.services, standby),
            "Redis": redis_service.running_pid(self.services),
        }

    async def fault(self) -> None:
        pid = postgres.running_pid(self.services)
        assert pid is not None, "the primary is not running"
        self.times["fault"] = time.monotonic()
        self.killed_processes = kill_machine(pid)
        await trio.sleep(self.args.detect_s)
        await trio.to_thread.run_sync(standby.promote, self.services)
        self.times["back"] = time.monotonic()

    async def watch(self) -> None:
        """The standby's lag as the primary reports it, until the primary is gone."""
        primary = postgres.paths(self.services)
        while "fault" not in self.times:
            try:
                rows = await trio.to_thread.run_sync(standby.replication, self.services, primary)
            except ServiceError:
                if "fault" in self.times:
                    return  # asked just as the primary died
                raise
            if "fault" in self.times:
                return
            self.lag.extend(r for r in rows if r["state"] == "streaming")
            await trio.sleep(LAG_EVERY_S)

    def database_url_after(self) -> str:
        # The promoted server itself, not through the two-server URL.
        return postgres.node_url(postgres.paths(self.services), self.services.database_name)

    async def report(self, db: Database) -> dict[str, Any]:
        def figure(key: str) -> dict[str, float] | None:
            values = [float(r[key]) for r in self.lag if r.get(key) is not None]
            if not values:
                return None
            return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}

        return {
            "promoted_server": postgres.paths(self.services).name,
            "processes_killed": self.killed_processes,
            "replication_samples": len(self.lag),
            "sync_state": sorted({r["sync_state"] for r in self.lag}),
            "flush_lag_ms": figure("flush_lag_ms"),
            "replay_lag_ms": figure("replay_lag_ms"),
            "lag_bytes": figure("lag_bytes"),
            "violations": [],
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detect-s", type=float, default=1.0, help="kill to promotion")
    main(Failover, parser)
