"""The chaos run, short form: faults of every kind, the switch SIGKILLed and
restarted, PostgreSQL restarted, Redis flushed; not a paisa lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_short_chaos_run_loses_and_doubles_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.chaos",
            "--duration-s",
            "25",
            "--kills",
            "2",
            "--terminals",
            "15",
            "--seed",
            "7",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["violations"] == [], result
    assert done.returncode == 0
    assert result["paise_lost"] == 0 and result["paise_doubled"] == 0
    assert result["injected"]["switch SIGKILL + restart"] == 2
    assert result["injected"]["postgres restart"] == 1
    assert result["injected"]["redis flush + restart"] == 1
    assert sum(result["fired"].values()) > 0 and result["fleet_pays_ok"] > 0
    assert set(result["outcomes"]) <= {
        k for k in result["outcomes"] if k.startswith(("posted", "voided"))
    }
