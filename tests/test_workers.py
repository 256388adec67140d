"""``switch serve --workers 2``: two switch processes share the terminal port, both
serve, and one that dies is started again while the other goes on untouched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from loadtests.cpu_bench import children_of
from loadtests.haproxy_bench import ready
from loadtests.terminal_bench import STUB_BILLERS
from simulators.epos.connection import connect
from switch.provisioning.credentials import Credentials
from switch.services import ServiceUrls
from switch.services.common import free_tcp_port
from tests.processes import invariants, provision, switch_env, wait_until

TERMINALS = 24


def two_free_ports() -> int:
    """A port whose next one is free too (worker i serves metrics on base + i)."""
    for _ in range(50):
        base = free_tcp_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise RuntimeError("no two free ports in a row")


def connections(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("switch_terminal_connections_total"))
    return float(line.split()[-1])


async def pay_from_each(creds: list[Credentials], round_: str) -> list[str]:
    statuses = []
    for c in creds:  # one new connection each: the kernel picks the worker
        async with connect(c) as conn:
            result = await conn.request(
                "pay", ref=f"{round_}-{c.terminal_id}", biller="UPPCL",
                account="1234567890", amount_paise=100_00,
            )  # fmt: skip
            statuses.append(result["status"])
    return statuses


def test_two_workers_share_the_port_and_a_dead_one_comes_back(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    identity, config = tmp_path / "switch.key", tmp_path / "switch.toml"
    config.write_text(STUB_BILLERS)
    port, metrics = free_tcp_port(), two_free_ports()
    creds = trio.run(provision, database_url, identity, port, TERMINALS)
    env = switch_env(tmp_path, database_url, services, SWITCH_ADMIN_PORT="0")
    command = [sys.executable, "-m", "switch", "serve", "--workers", "2"]
    command += ["--port", str(port), "--metrics-port", str(metrics)]
    supervisor = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: ready(metrics) and ready(metrics + 1))
        workers = sorted(children_of(supervisor.pid))
        assert len(workers) == 2
        assert trio.run(pay_from_each, creds, "A") == ["success"] * TERMINALS
        assert connections(metrics) > 0 and connections(metrics + 1) > 0  # both served

        os.kill(workers[1], signal.SIGKILL)  # one worker dies
        wait_until(lambda: len(set(children_of(supervisor.pid)) - {workers[1]}) == 2)
        wait_until(lambda: ready(metrics) and ready(metrics + 1))
        assert supervisor.poll() is None  # the supervisor, the same process, still up
        assert workers[0] in children_of(supervisor.pid)  # the other worker untouched
        assert trio.run(pay_from_each, creds, "B") == ["success"] * TERMINALS
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
    assert children_of(supervisor.pid) == []
    assert trio.run(invariants, database_url) == []
