"""The Redis Cluster drill, short form: one of three masters SIGKILLed under load and
started again (empty) two seconds later, in a 16-second run. The per-day limits bind during the run;
while the master is down they are checked in PostgreSQL and still hold; by the run's
last quarter they are counted in Redis again; the switch is the same process and
serves; every paisa is accounted for (loadtests/accounting.py). The long form:
``python -m loadtests.redis_drill --duration-s 60``."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests.redis_drill import RedisMasterKill


def test_a_master_killed_under_load_the_limits_hold_and_come_back_to_redis(
    tmp_path: Path,
) -> None:
    # 16 s: the master is back at about 7 s, the last quarter starts at 12 s (the
    # switch needs a few seconds to trust the cluster again: breaker, gossip, reseeds).
    args = argparse.Namespace(duration_s=16.0, terminals=24, down_s=2.0, per_day_rupees=60_000)
    result = RedisMasterKill(args, tmp_path).run()
    # Includes: no agent's posted pays of the day above its limit; the fallback ran
    # while the master was down; none in PostgreSQL in the last quarter.
    assert result["violations"] == []
    assert result["pays_refused_by_the_limit"] > 0
    assert result["limits_checked_in_postgres_while_down"] > 0
    assert result["limits_checked_in_postgres_in_the_last_quarter"] == 0
    assert result["back_to_served_s"]["redis master kill"]
    assert result["bystanders_unchanged"] == [
        "PostgreSQL", "Redis master 0", "Redis master 2", "discom simulator",
    ]  # fmt: skip
    assert result["receipts"] == result["fleet_pays_ok"] > 0
    assert result["paise_lost"] == result["paise_doubled"] == 0
