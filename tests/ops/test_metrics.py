"""The switch's and the simulators' /metrics, health and readiness, alert rules,
the dashboard, and JSON logs."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import subprocess

import trio
import yaml

from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from switch.config import Config
from switch.ops.logs import pay_fields, setup_logging
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from switch.services import ServiceUrls
from tests.billers.conftest import World
from tests.ops.conftest import OPS, get, promtool_check_metrics

DOCS = OPS.parent / "docs"

PAY = {"biller": "UPPCL", "account": "1234567890", "amount_paise": 150_00}


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample, found by name and labels (0 when absent)."""
    for line in exposition.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if metric == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def scrape(sw: RunningSwitch) -> str:
    assert sw.ops_port is not None
    status, body = await get(sw.ops_port, "/metrics")
    assert status == 200
    return body.decode()


async def traffic(sw: RunningSwitch, creds: Credentials) -> None:
    async with connect(creds) as conn:
        await conn.request("fetch_bill", biller="UPPCL", account="1234567890")
        assert (await conn.request("pay", ref="M1", **PAY))["status"] == "success"
    # Someone who is not a terminal: refused at the handshake.
    stream = await trio.open_tcp_stream("127.0.0.1", sw.port)
    await stream.send_all(b"\x00\x00\x00\x05hello")
    with trio.move_on_after(2):
        while await stream.receive_some(1024):
            pass
    await stream.aclose()


async def test_the_switch_exposes_what_ops_need(
    switch: RunningSwitch, terminals: list[Credentials], promtool: str
) -> None:
    await traffic(switch, terminals[0])
    await trio.sleep(0.7)  # one sampling interval (0.5 s in tests)
    text = await scrape(switch)
    assert sample(text, "switch_terminal_requests_total", type="pay", outcome="ok") == 1
    assert sample(text, "switch_terminal_requests_total", type="fetch_bill", outcome="ok") == 1
    assert sample(text, "switch_terminal_request_seconds_count", type="pay") == 1
    assert sample(text, "switch_pays_total", biller="UPPCL", outcome="posted") == 1
    assert sample(text, "switch_day_limit_pays_total", outcome="admitted") == 1
    assert sample(text, "switch_day_limit_postgres_checks_total") == 0  # Redis counted it
    assert (
        sample(text, "switch_biller_calls_total", biller="UPPCL", operation="pay", outcome="ok")
        == 1
    )
    assert sample(text, "switch_biller_call_seconds_count", biller="UPPCL", operation="pay") == 1
    assert sample(text, "switch_ledger_batch_size_count") >= 2  # the reserve and the post
    assert (
        sum(
            sample(text, "switch_handshake_failures_total", reason=r)
            for r in ("malformed_frame", "handshake_failed", "unsupported_version")
        )
        == 1
    )
    assert sample(text, "switch_biller_breaker_state", biller="UPPCL") == 0
    assert sample(text, "switch_pays_open", state="sent") == 0
    assert sample(text, "switch_sms_outbox_pending") == 0
    assert sample(text, "switch_ops_sampled_timestamp_seconds") > 0
    assert sample(text, "switch_history_months_ready") == 4  # this month and three ahead
    # Bounded labels: no terminal, agent or consumer ever becomes a label.
    for private in (terminals[0].terminal_id, terminals[0].agent_id, PAY["account"]):
        assert private not in text
    checked = promtool_check_metrics(promtool, text.encode())
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_health_and_readiness(switch: RunningSwitch) -> None:
    assert switch.ops_port is not None
    assert await get(switch.ops_port, "/healthz") == (200, b'{"status": "ok"}')
    status, body = await get(switch.ops_port, "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    status, body = await get(switch.ops_port, "/nothing")
    assert status == 404 and json.loads(body)["error"] == "not_found"


async def test_each_simulator_exposes_its_own_metrics(world: World, promtool: str) -> None:
    account = discom_account(1, 5)
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay", ref="SM1", biller="UPPCL", account=account, amount_paise=100_00
        )
    assert result["status"] == "success"
    for kind in ("discom", "water", "sms"):
        status, body = await get(world.ports[kind], "/metrics")
        assert status == 200
        checked = promtool_check_metrics(promtool, body)
        assert checked.returncode == 0, (kind, checked.stdout + checked.stderr)
    _, body = await get(world.ports["discom"], "/metrics")
    text = body.decode()
    assert sample(text, "sim_requests_total", operation="pay", status="200") == 1
    assert sample(text, "sim_payments_applied") == 1
    assert sample(text, "sim_payments_applied_paise") == 100_00


def test_alert_rules_are_valid_and_fire_when_they_should(promtool: str) -> None:
    for args in (
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
        ["check", "config", "prometheus.yml"],
    ):
        done = subprocess.run(
            [promtool, *args], cwd=OPS, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_runbook_entry() -> None:
    rules = yaml.safe_load((OPS / "alerts.yml").read_text())["groups"][0]["rules"]
    runbook = (OPS / "runbook.md").read_text()
    for rule in rules:
        assert f"## {rule['alert']}\n" in runbook, rule["alert"]
        assert rule["annotations"]["runbook"] == f"ops/runbook.md#{rule['alert'].lower()}"


async def test_the_dashboard_and_alerts_name_only_real_metrics(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    await traffic(switch, terminals[0])
    text = await scrape(switch)
    exposed = set(re.findall(r"^# TYPE (\w+) (\w+)", text, re.M))
    names = set()
    for name, kind in exposed:
        names |= {name, f"{name}_total"} if kind == "counter" else {name}
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    dashboard = json.loads((OPS / "grafana" / "switch-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [
        r["expr"] for r in yaml.safe_load((OPS / "alerts.yml").read_text())["groups"][0]["rules"]
    ]
    used = {m for e in exprs for m in re.findall(r"\b(switch_\w+)", e)}
    assert used and used <= names, used - names
    kinds = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert {
        "Throughput and outcomes",
        "Latency",
        "Per-biller health",
        "Ledger",
        "Backlogs",
    } <= kinds


def test_json_logs_carry_the_pay(capsys) -> None:  # type: ignore[no-untyped-def]
    class P:
        id, terminal_id, biller_id = 42, "T00000007", "UPPCL"

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("json", "INFO")
        logging.getLogger("switch.pays").warning("reversal sent", extra=pay_fields(P()))
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    record = json.loads(line)
    assert record["message"] == "reversal sent" and record["level"] == "WARNING"
    assert (record["txn"], record["terminal"], record["biller"]) == (42, "T00000007", "UPPCL")
    assert "time" in record and record["logger"] == "switch.pays"
    # The text format names them too.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from switch.ops.logs import TEXT_FORMAT, TextFormatter

    handler.setFormatter(TextFormatter(TEXT_FORMAT))
    logger = logging.getLogger("test.text")
    logger.addHandler(handler)
    logger.warning("posted", extra=pay_fields(P()))
    logger.removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("posted txn=42 terminal=T00000007 biller=UPPCL")


def test_gauges_sampled_from_the_database_are_never_summed_over_processes() -> None:
    """Every switch process samples the same shared database: a sum over processes
    would count each backlog once per process. The dashboard and alerts take max."""
    rows = [r for r in (DOCS / "operations.md").read_text().splitlines() if "| gauge* |" in r]
    sampled = {m for r in rows for m in re.findall(r"switch_\w+", r.split("|")[1])}
    assert {"switch_pays_open", "switch_recon_open_cases", "switch_sms_outbox_pending"} <= sampled
    dashboard = json.loads((OPS / "grafana" / "switch-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [
        r["expr"] for r in yaml.safe_load((OPS / "alerts.yml").read_text())["groups"][0]["rules"]
    ]
    summed = {m for e in exprs for m in re.findall(r"\bsum(?: by \([^)]*\))? ?\((switch_\w+)", e)}
    assert not summed & sampled, summed & sampled


async def test_scheduler_steps_are_counted_only_when_asked(
    switch_config: Config, database_url: str, services: ServiceUrls
) -> None:
    """``[ops] count_scheduler_steps``: the benchmark's exact figure (cpu_bench --steps)
    rises with the terminals' requests, and a switch not asked does not count."""
    counting = switch_config.replace(
        ops=dataclasses.replace(switch_config.ops, count_scheduler_steps=True)
    )
    async with running_switch(counting, database_url, services.redis_url) as sw:
        creds = await provision_fleet(
            sw.db,
            sw.ledger,
            public_bytes(sw.deps.identity),
            f"127.0.0.1:{sw.port}",
            agents=1,
            wallet_paise=1_000_00,
            prefix="STP",
        )
        before = await scrape(sw)
        async with connect(creds[0]) as conn:
            for _ in range(5):
                await conn.request("fetch_bill", biller="UPPCL", account="1234567890")
        after = await scrape(sw)
        for name in ("switch_scheduler_steps_total", "switch_tasks_spawned_total"):
            assert sample(after, name) >= sample(before, name) + 5, name  # a task each
    async with running_switch(switch_config, database_url, services.redis_url) as sw:
        assert "switch_scheduler_steps" not in await scrape(sw)
