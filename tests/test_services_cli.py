"""`switch db ...` on a data directory of its own: start, reuse, status, stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from switch.history.months import month_name, next_month, this_month
from tests.helpers import switch_cli


def switch(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env["SWITCH_DATA_DIR"] = str(data_dir)
    return switch_cli(env, *args)


def test_db_start_reuse_status_stop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        first = switch(data, "db", "start")
        assert first.returncode == 0, first.stderr
        status = json.loads(switch(data, "db", "status", "--json").stdout)
        pg_pid, redis_pid = status["postgres"]["pid"], status["redis"]["pid"]
        assert status["postgres"]["running"] and status["redis"]["running"]
        assert status["postgres"]["schema_version"] == status["postgres"]["schema_version_shipped"]

        again = switch(data, "db", "start")  # reuses, does not start a second server
        assert again.returncode == 0, again.stderr
        status2 = json.loads(switch(data, "db", "status", "--json").stdout)
        assert (status2["postgres"]["pid"], status2["redis"]["pid"]) == (pg_pid, redis_pid)

        redis_url = switch(data, "db", "url", "redis").stdout.strip()
        client = redis.Redis.from_url(redis_url)
        assert client.ping() is True
        client.close()

        check = switch(data, "ledger", "check")
        assert check.returncode == 0 and "all invariants hold" in check.stdout

        # The months of history: made ahead; nothing older to archive; never this month.
        parts = json.loads(switch(data, "db", "partitions", "--json").stdout)
        now, ahead = this_month(), next_month(this_month())
        names = {p["partition"] for p in parts["partitions"]}
        assert {f"pays_{now:%Y%m}", f"transfers_{ahead:%Y%m}", f"sms_outbox_{now:%Y%m}"} <= names
        nothing = switch(data, "db", "archive", "--before", month_name(now))
        assert nothing.returncode == 0 and "nothing to archive" in nothing.stdout
        current = switch(data, "db", "archive", "--before", month_name(ahead))
        assert current.returncode == 1 and "current month" in current.stderr
        typo = switch(data, "db", "archive", "--before", "2026-13")
        assert typo.returncode == 2 and "write YYYY-MM" in typo.stderr
    finally:
        stopped = switch(data, "db", "stop")
    assert stopped.returncode == 0 and "postgres: stopped" in stopped.stdout
    assert "redis: stopped" in stopped.stdout
    final = json.loads(switch(data, "db", "status", "--json").stdout)
    assert not final["postgres"]["running"] and not final["redis"]["running"]


def test_external_urls_start_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env |= {
        "SWITCH_DATA_DIR": str(tmp_path / "never"),
        "SWITCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
        "SWITCH_REDIS_URL": "redis://127.0.0.1:1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "switch", "db", "stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "external, left alone" in done.stdout
    assert not (tmp_path / "never").exists()


def test_help_explains_every_command() -> None:
    for args in (["--help"], ["db", "--help"], ["ledger", "--help"], ["ledger", "check", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "switch", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0 and "Usage:" in done.stdout
