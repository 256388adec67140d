"""Against the demo stack (switch, billers, SMS gateway as processes): a real Prometheus
scrapes it and answers a query for pays per second; a headless locust run speaking
the terminal protocol finishes with zero failures, and its report is drawn."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from simulators.discom.simulator import discom_account
from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from switch.config import Config, ServicesConfig
from switch.demo.setup import DemoStack, demo_stack
from switch.services.common import free_tcp_port
from tests.ops.conftest import NO_PROMETHEUS

REPO = Path(__file__).resolve().parents[2]
PAYS_PER_S = 'sum(rate(switch_pays_total{outcome="posted"}[15s]))'


@pytest.fixture(scope="module")
def demo(services_config: ServicesConfig) -> Iterator[DemoStack]:
    with demo_stack(Config(services=services_config), seed=3, terminals=12) as stack:
        yield stack


@pytest.fixture
def prometheus(demo: DemoStack, tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(NO_PROMETHEUS)
    port = free_tcp_port()
    jobs = [
        {
            "job_name": job,
            "scrape_interval": "1s",
            "static_configs": [{"targets": [f"127.0.0.1:{target}"]}],
        }
        for job, target in demo.metrics_targets().items()
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        wait_for(lambda: query(port, "up") is not None, 30, "prometheus did not start")
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def query(port: int, promql: str) -> list[dict[str, object]] | None:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            answer = json.load(r)
    except OSError:
        return None
    return answer["data"]["result"] if answer.get("status") == "success" else None


def wait_for(ok: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(what)


def fleet_burst(demo: DemoStack, seconds: float) -> FleetStats:
    consumers = [Consumer("UPPCL", discom_account(3, n)) for n in range(5_000)]
    stats = FleetStats()

    async def run() -> None:
        await run_fleet(
            demo.credentials,
            consumers,
            seconds,
            seed=3,
            stats=stats,
            amount=pay_part(__import__("random").Random(3)),
        )

    trio.run(run)
    return stats


def test_a_real_prometheus_scrapes_the_demo_and_answers_pays_per_second(
    demo: DemoStack, prometheus: int
) -> None:
    stats = fleet_burst(demo, 6)
    assert stats.pays_ok > 0
    values: list[float] = []

    def have_rate() -> bool:
        result = query(prometheus, PAYS_PER_S) or []
        values[:] = [float(r["value"][1]) for r in result]  # type: ignore[index]
        return bool(values) and values[0] > 0

    wait_for(have_rate, 20, f"no pays/s from Prometheus: {values}")
    up = query(prometheus, "up") or []
    assert {r["metric"]["job"] for r in up if r["value"][1] == "1"} == set(  # type: ignore[index]
        demo.metrics_targets()
    )
    print(f"Prometheus: {PAYS_PER_S} = {values[0]:.1f} (fleet: {stats.pays_ok} pays in 6 s)")


def test_headless_locust_speaks_the_terminal_protocol_without_failures(
    demo: DemoStack, tmp_path: Path
) -> None:
    prefix = tmp_path / "run"
    env = os.environ | {
        "SWITCH_CREDENTIALS_DIR": str(demo.credentials_dir),
        "LOAD_PROFILE": "steady",
        "LOAD_USERS": "10",
        "LOAD_DURATION_S": "15",
        "LOAD_SEED": "3",
        "LOAD_ACCOUNTS": "50000",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests" / "locustfile.py"),
            "--headless",
            "--csv",
            str(prefix),
            "--only-summary",
            "--stop-timeout",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    [figures] = [ln for ln in output.splitlines() if "terminal protocol load:" in ln]
    assert " 0 failures" in figures, figures
    print(figures)
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.report",
            f"{prefix}_stats_history.csv",
            "--out",
            str(tmp_path / "run.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"
    print(report.stdout)
