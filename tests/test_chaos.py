"""The chaos run, short form: faults of every kind, the switch SIGKILLed and
restarted, PostgreSQL stopped and SIGKILLed, Redis flushed, SIGKILLed and frozen, the
payment gateway's callbacks missing, late or doubled; not a paisa lost or doubled.
And a run with no switch kills at all: every server fault is ridden out by the one
switch process that started."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SERVER_FAULTS = (
    "postgres restart",
    "postgres SIGKILL",
    "redis flush + restart",
    "redis SIGKILL",
    "redis SIGSTOP",
)


def chaos(duration_s: int, kills: int, seed: int) -> dict[str, Any]:
    args = ["--duration-s", str(duration_s), "--kills", str(kills), "--terminals", "15"]
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.chaos", *args, "--seed", str(seed), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["violations"] == [], result
    assert done.returncode == 0
    return result


def test_a_short_chaos_run_loses_and_doubles_nothing() -> None:
    result = chaos(30, kills=2, seed=7)
    assert result["paise_lost"] == 0 and result["paise_doubled"] == 0
    assert result["injected"]["switch SIGKILL + restart"] == 2
    assert all(result["injected"][fault] == 1 for fault in SERVER_FAULTS)
    assert sum(result["fired"].values()) > 0 and result["fleet_pays_ok"] > 0
    assert set(result["outcomes"]) <= {
        k for k in result["outcomes"] if k.startswith(("posted", "voided"))
    }
    # Consumers paid by payment link through all of it, while the gateway's callbacks
    # went missing, came late or twice, approvals failed and its status was down: the
    # gateway's books and the switch's agree (the run's violations say if not).
    links = result["links"]
    assert links["link_orders"].get("paid", 0) > 0
    assert (
        links["link_paise_posted"] == links["link_paise_collected"] - links["link_paise_refunded"]
    )
    gateway_faults = [f for f in result["injected"] if f.startswith("gateway ")]
    assert len(gateway_faults) == 5, gateway_faults


def test_the_switch_rides_out_every_server_fault_without_a_restart() -> None:
    """No switch kills: after each PostgreSQL and Redis fault the same switch process
    serves a pay (the run checks it, and that it never exited by itself)."""
    result = chaos(25, kills=0, seed=3)
    assert "switch SIGKILL + restart" not in result["injected"]
    assert set(result["back_to_served_s"]) == set(SERVER_FAULTS)
    assert result["fleet_pays_ok"] > 0 and result["paise_lost"] == result["paise_doubled"] == 0
