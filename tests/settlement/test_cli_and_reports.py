"""MIS reports, and the operator's commands: settle, files, recon, report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from pathlib import Path

from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch
from switch.services import ServiceUrls
from switch.settlement import amounts, reports
from switch.settlement.calendar import IST
from tests.helpers import switch_cli
from tests.settlement.conftest import UPPCL, db_now, pay


async def test_agent_statement_and_totals_by_hierarchy(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    a0, a1 = terminals[0].agent_id, terminals[1].agent_id
    for n, amount in enumerate((100_00, 250_50, 999_99)):
        await pay(terminals[0], f"M{n}", amount)
    await pay(terminals[1], "M9", 40_00)
    today = dt.datetime.now(IST).date()
    statement = await reports.agent_statement(switch.db, a0, today, today, [UPPCL])
    summary = statement["summary"]
    assert (summary["pays"], summary["posted"], summary["failed"]) == (3, 3, 0)
    assert summary["amount_posted_paise"] == 100_00 + 250_50 + 999_99
    assert summary["commission_paise"] == sum(
        amounts.commission_paise(a, 50) for a in (100_00, 250_50, 999_99)
    )
    assert {p["state"] for p in statement["payments"]} == {"posted"}
    assert not any(p["commission_settled"] for p in statement["payments"])

    by_agent = await reports.totals(switch.db, ["agent"], today, today, [UPPCL])
    assert {r["agent"]: r["posted"] for r in by_agent} == {a0: 3, a1: 1}
    by_place = await reports.totals(switch.db, ["region", "district"], today, today, [UPPCL])
    # The fleet puts agent 0 in Varanasi and agent 1 in Mau, both in Purvanchal.
    assert [(r["region"], r["district"], r["posted"]) for r in by_place] == [
        ("Purvanchal", "Mau", 1),
        ("Purvanchal", "Varanasi", 3),
    ]
    [by_biller] = await reports.totals(switch.db, ["biller"], today, today, [UPPCL])
    [by_day] = await reports.totals(switch.db, ["day"], today, today, [UPPCL])
    assert (
        by_biller["amount_posted_paise"]
        == by_day["amount_posted_paise"]
        == sum(r["amount_posted_paise"] for r in by_agent)
    )
    yesterday = today - dt.timedelta(days=1)
    assert await reports.totals(switch.db, ["biller"], yesterday, yesterday, [UPPCL]) == []


cli = switch_cli


def cli_env(
    tmp_path: Path, database_url: str, services: ServiceUrls, cutoff: str
) -> dict[str, str]:
    config = tmp_path / "switch.toml"
    config.write_text(
        '[[billers]]\nid = "UPPCL"\nname = "UPPCL"\nconnector = "stub"\n'
        "commission_bps = 50\nfee_paise = 100\n"
    )
    holidays = tmp_path / "no-holidays.toml"
    holidays.write_text("holidays = []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return env | {
        "SWITCH_CONFIG": str(config),
        "SWITCH_DATA_DIR": str(tmp_path / "data"),
        "SWITCH_DATABASE_URL": database_url,
        "SWITCH_REDIS_URL": services.redis_url,
        "SWITCH_SETTLEMENT_CUTOFF": cutoff,
        "SWITCH_SETTLEMENT_WEEKEND": "",
        "SWITCH_SETTLEMENT_HOLIDAYS_FILE": str(holidays),
        "SWITCH_SETTLEMENT_CLOSE_GRACE_S": "0",
        "SWITCH_SETTLEMENT_FILES_DIR": str(tmp_path / "files"),
    }


def tamper(path: Path) -> None:
    path.write_text(path.read_text().replace("15000", "15001"))


async def test_operator_commands_settle_verify_reconcile_resolve_and_report(
    switch: RunningSwitch,
    terminals: list[Credentials],
    database_url: str,
    services: ServiceUrls,
    tmp_path: Path,
) -> None:
    for n in range(3):
        await pay(terminals[n % 2], f"CLI{n}", 150_00)
    cut = await db_now(switch)
    env = cli_env(tmp_path, database_url, services, cut.astimezone(IST).time().isoformat())
    day = (cut - dt.timedelta(seconds=1)).astimezone(IST).date().isoformat()

    closed = cli(env, "settle", "close")
    assert closed.returncode == 0, closed.stderr
    [window] = json.loads(closed.stdout)
    assert (window["business_date"], window["state"], window["pay_count"]) == (day, "settled", 3)
    assert json.loads(cli(env, "settle", "close").stdout) == []  # nothing more is due
    early = cli(env, "settle", "close", "--date", "2099-01-01")
    assert early.returncode == 1 and "closes at 2099-01-01" in early.stderr
    assert "Traceback" not in early.stderr
    status = json.loads(cli(env, "settle", "status").stdout)
    assert status["closed"][0]["net_paise"] == window["net_paise"]

    verified = cli(env, "settle", "files", "--verify")
    assert verified.returncode == 0 and json.loads(verified.stdout)[0]["ok"]
    tamper(Path(json.loads(verified.stdout)[0]["file"]))
    assert cli(env, "settle", "files", "--verify").returncode == 1
    assert cli(env, "settle", "files").returncode == 0  # written again from the database
    assert cli(env, "settle", "files", "--verify").returncode == 0

    # The CLI's stub biller is a fresh one with empty books: all three are missing there.
    recon = json.loads(cli(env, "recon", "run", "--date", day).stdout)
    assert recon[0]["breaks"]["missing_at_biller"] == 3 and recon[0]["new_cases"] == 3
    open_cases = json.loads(cli(env, "recon", "cases").stdout)
    assert len(open_cases) == 3
    case_id = str(open_cases[0]["id"])
    wrong = cli(
        env, "recon", "resolve", case_id, "--action", "force_post", "--by", "fin", "--note", "x"
    )
    assert wrong.returncode == 1 and "refund_agent or no_money" in wrong.stderr
    assert "Traceback" not in wrong.stderr  # a refusal is a message, not a crash
    done = cli(
        env,
        "recon",
        "resolve",
        case_id,
        "--action",
        "refund_agent",
        "--by",
        "fin",
        "--note",
        "biller confirms it never arrived",
    )
    assert done.returncode == 0, done.stderr
    money = json.loads(done.stdout)["money"]  # back: the pay less the commission it earned
    assert money["refund_paise"] == 150_00 - 75 and money["fee_returned_paise"] == 100
    assert money["adjustment_paise"] == 150_00 - 75 - 100
    assert len(json.loads(cli(env, "recon", "cases").stdout)) == 2

    agent = terminals[0].agent_id
    statement = json.loads(cli(env, "report", "agent", agent, "--format", "json").stdout)
    assert statement["summary"]["posted"] == 2
    assert all(p["commission_settled"] for p in statement["payments"])
    out = tmp_path / "totals.csv"
    assert (
        cli(
            env, "report", "totals", "--by", "region,district", "--format", "csv", "--out", str(out)
        ).returncode
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sum(int(r["posted"]) for r in rows) == 3 and {r["region"] for r in rows} == {
        "Purvanchal"
    }
    table = cli(env, "report", "biller")
    assert table.returncode == 0 and "UPPCL" in table.stdout and "₹450.00" in table.stdout
    png = tmp_path / "mis.png"
    assert cli(env, "report", "chart", "--out", str(png)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    bad = cli(env, "report", "totals", "--by", "planet")
    assert bad.returncode == 1 and "group by" in bad.stderr and "Traceback" not in bad.stderr
