"""Redis Cluster drill: one of three masters dies under load; the per-day limits fall
back to PostgreSQL for that master's agents and still hold; when the master is back
(empty), its counters are seeded again and the limits are counted in Redis again.

    python -m loadtests.redis_drill [--duration-s 20] [--terminals 40] [--down-s 3]
                                    [--per-day-rupees 80000]

The world is loadtests/drill.py's, with PostgreSQL embedded and Redis an embedded
cluster of three masters (switch/services/redis_cluster.py), the switch given its
``redis+cluster://`` URL. Every agent's per-day limit is ``--per-day-rupees``, low
enough that agents reach it during the run. A third of the way through, one master
is SIGKILLed; ``--down-s`` later it is started again (it rejoins with its slots, and
empty). The switch is never restarted.

Checked, beside everything loadtests/accounting.py checks:

- no agent's posted pays of the day exceed its limit (in Redis, in PostgreSQL, or
  across the switch between them);
- some pays were refused by the limit (it was reached);
- while the master was down, limits were checked in PostgreSQL (the fallback ran);
- in the last quarter of the run, none were (the switch went back to Redis).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from loadtests.drill import Drill, main
from switch.db.database import Database
from switch.services import ServiceUrls, postgres, redis_cluster

VICTIM = 1  # the master killed
METRICS = (
    "switch_day_limit_postgres_checks_total",
    "switch_day_limit_redis_errors_total",
    "switch_day_limit_reseeds_total",
)


class RedisMasterKill(Drill):
    name = "redis master kill"

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        super().__init__(args, workdir)
        self.cluster_dir = workdir / "redis-cluster"
        self.limit_paise = int(args.per_day_rupees * 100)
        self.extra_config = f"\n[admin]\ndefault_per_day_paise = {self.limit_paise}\n"
        self.counts: dict[str, dict[str, float]] = {}  # moment -> metric -> value

    def start_servers(self) -> ServiceUrls:
        database_url = postgres.start(self.services)
        return ServiceUrls(database_url, redis_cluster.start(self.cluster_dir))

    def teardown(self) -> None:
        redis_cluster.stop(self.cluster_dir)

    def bystanders(self) -> dict[str, int | None]:
        others = [n for n in redis_cluster.nodes(self.cluster_dir) if n.index != VICTIM]
        return super().bystanders() | {
            "PostgreSQL": postgres.running_pid(self.services),
            **{f"Redis master {n.index}": redis_cluster.running_pid(n) for n in others},
        }

    async def fault(self) -> None:
        victim = redis_cluster.nodes(self.cluster_dir)[VICTIM]
        self.counts["before"] = await self._metrics()
        self.times["fault"] = time.monotonic()
        await trio.to_thread.run_sync(redis_cluster.kill_node, victim)
        await trio.sleep(self.args.down_s)
        self.counts["down"] = await self._metrics()
        await trio.to_thread.run_sync(redis_cluster.start_node, victim)
        self.times["back"] = time.monotonic()

    async def watch(self) -> None:
        """The counters at the start of the run's last quarter, and at its end."""
        started = trio.current_time()
        await trio.sleep_until(started + self.args.duration_s * 0.75)
        self.counts["last quarter"] = await self._metrics()
        await trio.sleep_until(started + self.args.duration_s)
        self.counts["end"] = await self._metrics()

    async def _metrics(self) -> dict[str, float]:
        port = self.stack.ports["switch_metrics"]
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in METRICS or name.startswith("switch_day_limit_pays_total{"):
                values[name] = float(value)
        return values

    async def report(self, db: Database) -> dict[str, Any]:
        over = await db.fetch(
            """SELECT agent_id, (created_at AT TIME ZONE 'Asia/Kolkata')::date AS day,
                      sum(amount_paise) AS posted
                 FROM pays WHERE state = 'posted' GROUP BY 1, 2 HAVING sum(amount_paise) > $1""",
            self.limit_paise,
        )
        refused = await db.fetchval("SELECT count(*) FROM pays WHERE error_code = 'limit_exceeded'")
        violations = [
            f"agent {r['agent_id']} posted {r['posted']} paise on {r['day']}" for r in over
        ]
        checks = "switch_day_limit_postgres_checks_total"
        c = self.counts
        in_pg_while_down = c["down"].get(checks, 0) - c["before"].get(checks, 0)
        in_pg_at_the_end = c["end"].get(checks, 0) - c["last quarter"].get(checks, 0)
        if not refused:
            violations.append("no pay was refused by the per-day limit: it never bound")
        if not in_pg_while_down:
            violations.append("no limit was checked in PostgreSQL while the master was down")
        if in_pg_at_the_end:
            violations.append(f"{in_pg_at_the_end:.0f} limits checked in PostgreSQL at the end")
        return {
            "per_day_limit_paise": self.limit_paise,
            "pays_refused_by_the_limit": refused,
            "limits_checked_in_postgres_while_down": in_pg_while_down,
            "limits_checked_in_postgres_in_the_last_quarter": in_pg_at_the_end,
            "counters": c,
            "violations": violations,
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--down-s", type=float, default=3.0, help="the master's time down")
    parser.add_argument("--per-day-rupees", type=float, default=80_000)
    main(RedisMasterKill, parser)
