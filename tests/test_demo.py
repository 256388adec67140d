"""`switch demo` from the command line: it runs, checks its books, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.helpers import switch_cli


def test_the_demo_runs_and_its_books_agree(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env["SWITCH_DATA_DIR"] = str(tmp_path / "data")
    before = {p.pid for p in psutil.process_iter()}
    done = subprocess.run(
        [sys.executable, "-m", "switch", "demo", "--duration", "4", "--terminals", "8", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["pays_ok"] > 0 and result["pays_pending"] == 0
    # The bank paid beside the terminals, each key once; the split by channel adds up.
    partner = result["partner"]
    assert partner["success"] > 0 and partner["mismatched"] == 0 and partner["pending"] == 0
    channels = result["by_channel"]
    assert channels["partner"]["posted"] == partner["success"]
    posted = sum(b["switch_posted"] for b in result["billers"].values())
    # A few water consumers paid by payment link, each paid once through the gateway.
    links = result["links"]
    assert links["sent"] > 0 and links["paid"] > 0
    assert channels["link"]["posted"] == links["paid"]
    by_channel = sum(channels[c]["posted"] for c in ("partner", "terminal", "link"))
    assert by_channel == posted
    assert result["invariants_ok"] and result["billers_agree"]
    assert result["sms_sent"] == result["sms_received"] > 0
    for key in ("pays_failed", "pays_per_s", "p50_ms", "p99_ms"):
        assert key in result
    # The day closed: every posted pay settled, each biller's report matched it.
    day = result["end_of_day"]
    assert day["settled_all"] and day["reconciled_clean"], day
    posted = sum(b["switch_posted"] for b in result["billers"].values())
    assert sum(b["pays"] for b in day["billers"].values()) == posted
    for biller, b in day["billers"].items():
        assert b["gross_paise"] == result["billers"][biller]["switch_paise"]
        assert Path(b["file"]).is_file() and Path(b["file"] + ".sha256").is_file()
    # Commands beside (and after) the demo see its data with --demo.
    report = switch_cli(env, "--demo", "report", "biller", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert {r["biller"] for r in json.loads(report.stdout)} == set(day["billers"])
    verified = switch_cli(env, "--demo", "settle", "files", "--verify")
    assert verified.returncode == 0 and all(f["ok"] for f in json.loads(verified.stdout))
    elsewhere = env | {"SWITCH_SETTLEMENT_FILES_DIR": str(tmp_path / "empty")}
    nothing = switch_cli(elsewhere, "--demo", "settle", "files", "--verify")
    assert nothing.returncode == 0 and "no settlement files of this database" in nothing.stderr
    assert switch_cli(env, "db", "stop").returncode == 0
    leftovers = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == [], [p.info["cmdline"] for p in leftovers]


async def test_a_demo_that_stays_up_can_be_explored(tmp_path: Path) -> None:
    """`switch demo --keep-running --spare-terminals 2`: after its run everything
    serves until Ctrl-C: the printed staff login signs in to the back office and the
    admin API, the metrics answer, the prometheus.yml names them, a spare terminal pays
    on its own."""
    import re
    import signal

    import httpx
    import trio

    from simulators.epos.connection import connect
    from switch.provisioning.credentials import Credentials

    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env["SWITCH_DATA_DIR"] = str(tmp_path / "data")
    args = ["demo", "--duration", "2", "--terminals", "4", "--keep-running"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; read through a thread)
        [sys.executable, "-m", "switch", *args, "--spare-terminals", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        with trio.fail_after(240):
            while not lines or lines[-1].strip() != "ready":
                line = await trio.to_thread.run_sync(proc.stdout.readline)
                assert line, "".join(lines)
                lines.append(line)
        out = "".join(lines)
        admin = re.search(r"back office\s+(http://\S+)/office/\s+\(login (\S+) / (\S+)\)", out)
        metrics = re.search(r"metrics\s+(http://\S+)\s+\(--config.file=(\S+)\)", out)
        spare = re.search(r"spare terminals the fleet never used: (\S+)", out)
        assert admin and metrics and spare, out
        async with httpx.AsyncClient(base_url=admin[1], timeout=10) as http:
            login = await http.post(
                "/v1/auth/login", json={"username": admin[2], "password": admin[3]}
            )
            assert login.status_code == 200, login.text
            # The same login at the back office's form (which carries its CSRF field).
            form = await http.get("/office/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None, form.text
            signed = await http.post(
                "/office/login",
                data={"csrf": csrf[1], "username": admin[2], "password": admin[3]},
            )
            assert signed.status_code == 303 and signed.headers["location"] == "/office/"
            assert (await http.get("/office/")).status_code == 200
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(metrics[1])).status_code == 200
        prometheus = json.loads(Path(metrics[2]).read_text())  # noqa: ASYNC240
        assert {c["job_name"] for c in prometheus["scrape_configs"]} == {
            "switch",
            "discom",
            "water",
            "sms",
            "gateway",
        }
        [creds, *_] = Credentials.read_dir(Path(spare[1]))
        async with connect(creds) as conn:
            paid = await conn.request(
                "pay", ref="MINE-1", biller="UPPCL", account="2001000007", amount_paise=100_00
            )
        assert paid["status"] == "success", paid
        secrets = [admin[3], creds.private_key.hex(), "$argon2"]
    finally:
        proc.send_signal(signal.SIGINT)
        rc = await trio.to_thread.run_sync(lambda: proc.wait(timeout=60))
    assert rc == 0
    # No secret in any log the demo's processes wrote: not the staff password or its
    # hash, not a terminal's private key.
    logs = {
        p.name: p.read_text(errors="replace") for p in (tmp_path / "data" / "demo").glob("*.log")
    }
    assert {"switch.log", "discom.log"} <= set(logs)
    leaked = [(name, s) for name, text in logs.items() for s in secrets if s in text]
    assert leaked == [], leaked
