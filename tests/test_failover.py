"""The failover drill, short form: the PostgreSQL primary's machine dies under load
(postmaster and every backend SIGKILLed at once), the synchronous standby is promoted,
and the switch, never restarted, goes on against it through its two-server URL.
Every ``success`` a terminal was told is in the promoted database; every paisa is
accounted for there (loadtests/accounting.py); the switch is the same process and
serves. The long form: ``python -m loadtests.failover --duration-s 60``."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests.failover import Failover


def test_the_primary_dies_under_load_the_standby_is_promoted_and_no_paisa_is_lost(
    tmp_path: Path,
) -> None:
    args = argparse.Namespace(duration_s=12.0, terminals=24, detect_s=0.5)
    result = Failover(args, tmp_path).run()
    assert result["violations"] == []
    assert result["promoted_server"] == "postgres-2"
    assert result["processes_killed"] > 1  # the postmaster and its backends
    assert result["sync_state"] == ["sync"]  # a commit waited for the standby's disk
    # Terminals were served before the kill and after the promotion, by the same switch.
    assert result["pays_per_s_before_fault"] > 0
    assert result["back_to_first_pay_s"] is not None
    assert result["pays_per_s_after_back"] > 0
    assert result["back_to_served_s"]["failover"]
    # What was not killed is the same process, still answering (else a violation).
    assert result["bystanders_unchanged"] == [
        "Redis", "discom simulator", "the standby's postmaster",
    ]  # fmt: skip
    # Every receipt printed is a posted pay in the promoted database (accounting
    # checks it pay by pay); and the receipts came from both sides of the failover.
    assert result["receipts"] == result["fleet_pays_ok"] > 0
    assert result["paise_lost"] == result["paise_doubled"] == 0
