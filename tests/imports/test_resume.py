"""`switch import` from the command line: a run SIGKILLed mid-file resumes after its
last committed chunk, and every row is written exactly once (balances moved once);
an XLSX workbook reads as its CSV would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.protocols.terminal.crypto import public_bytes
from switch.services import ServiceUrls
from tests.helpers import scalar, switch_cli
from tests.imports.test_imports import agent_row, write_csv

ROWS = 3_000


def env_for(database_url: str, services: ServiceUrls, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env |= {
        "SWITCH_DATABASE_URL": database_url,
        "SWITCH_REDIS_URL": services.redis_url,
        "SWITCH_DATA_DIR": str(tmp_path / "data"),
    }
    return env


def history_file(path: Path, rows: int) -> Path:
    return write_csv(
        path,
        [
            {
                "legacy_ref": f"OLD-{n:07d}",
                "biller": "UPPCL",
                "account": f"{2_001_000_000 + n % 5000}",
                "amount": f"{100 + n % 900}.{n % 100:02d}",
                "paid_at": f"{1 + n % 28:02d}-10-2026 10:{n % 60:02d}",
                "status": "posted" if n % 17 else "failed",
            }
            for n in range(rows)
        ],
    )


def test_a_run_killed_mid_file_resumes_and_writes_every_row_once(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    path = history_file(tmp_path / "history.csv", ROWS)
    args = [sys.executable, "-m", "switch", "import", "history", str(path), "--chunk-rows", "100"]
    slow = subprocess.Popen(
        [*args, "--chunk-pause-ms", "40"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    position = 0
    while time.monotonic() < deadline and position < 500:
        time.sleep(0.05)
        position = scalar(database_url, "SELECT coalesce(max(position), 0) FROM import_runs")
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=10)
    written = scalar(database_url, "SELECT count(*) FROM legacy_pays")
    assert 500 <= written < ROWS and written % 100 == 0, written  # whole chunks only
    done = switch_cli(env, "import", "history", str(path), "--chunk-rows", "100", "--json")
    assert done.returncode == 0, done.stderr
    p = json.loads(done.stdout)
    assert p["state"] == "done" and p["rows"]["read"] == ROWS and p["position"] == ROWS
    assert p["rows"]["accepted"] == ROWS and p["rows"]["already_present"] == 0
    assert scalar(database_url, "SELECT count(*) FROM legacy_pays") == ROWS
    assert scalar(database_url, "SELECT count(*) FROM import_runs") == 1  # resumed, not redone
    again = switch_cli(env, "import", "history", str(path), "--json")
    assert json.loads(again.stdout)["imported_before"] and "imported before" not in again.stderr
    text = switch_cli(env, "import", "history", str(path))
    assert "imported before" in text.stdout


def test_an_xlsx_workbook_and_opening_balances_by_cli(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    book = openpyxl.Workbook()
    sheet = book.active
    rows = [agent_row(n) for n in (1, 2, 3)]
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    book.save(tmp_path / "agents.xlsx")
    imported = switch_cli(
        env, "import", "agents", str(tmp_path / "agents.xlsx"), "--approved", "--json"
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["rows"]["accepted"] == 3
    balances = write_csv(
        tmp_path / "opening.csv",
        [{"agent": f"OLD-{n}", "amount": f"{n},000.00"} for n in (1, 2, 3)],
    )
    refused = switch_cli(
        env, "import", "balances", str(balances), "--control-count", "3", "--control-total", "5,999"
    )
    assert refused.returncode == 1 and "control total says 599900" in refused.stdout
    ok = switch_cli(
        env,
        "import",
        "balances",
        str(balances),
        "--control-count",
        "3",
        "--control-total",
        "6,000",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["control"]["written_paise"] == 600_000
    suspense = scalar(
        database_url, "SELECT balance_paise FROM accounts WHERE code = 'system:migration'"
    )
    assert suspense == -600_000
    check = switch_cli(env, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    report = switch_cli(env, "import", "report", "1", "--csv")
    assert report.returncode == 0 and "rows.accepted,3" in report.stdout


def test_terminals_come_in_with_their_credentials_files(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    env = env_for(database_url, services, tmp_path)
    agents = write_csv(tmp_path / "agents.csv", [agent_row(1)])
    assert switch_cli(env, "import", "agents", str(agents), "--approved").returncode == 0
    rows = [{"legacy_ref": "POS-17", "agent": "OLD-1"}, {"legacy_ref": "POS-18", "agent": "X"}]
    path = write_csv(tmp_path / "terminals.csv", rows)
    out = tmp_path / "creds"
    done = switch_cli(env, "import", "terminals", str(path), "--out-dir", str(out), "--json")
    assert done.returncode == 0, done.stderr
    p = json.loads(done.stdout)
    assert p["rows"]["accepted"] == 1 and p["rejections"][0]["reason"] == "no such agent"
    creds = json.loads((out / "POS-17.json").read_text())
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(creds["private_key"]))
    stored = scalar(database_url, "SELECT public_key FROM terminals WHERE legacy_ref = 'POS-17'")
    assert bytes(stored) == public_bytes(key) and creds["terminal_id"].startswith("T")
    assert (out / "POS-17.json").stat().st_mode & 0o077 == 0  # the private key: owner only
