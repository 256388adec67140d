"""``switch serve --workers 2``: two switch processes share the terminal port, both
serve, and one that dies is started again while the other goes on untouched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import trio

from loadtests.cpu_bench import children_of
from loadtests.terminal_bench import STUB_BILLERS
from simulators.epos.connection import connect
from switch.db.database import Database
from switch.ledger import Ledger
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services import ServiceUrls
from switch.services.common import free_tcp_port

TERMINALS = 24


def switch_env(
    tmp_path: Path, database_url: str, services: ServiceUrls, **settings: str
) -> dict[str, str]:
    """The environment of a ``switch serve`` in a test: this test's database and
    Redis, ``tmp_path``'s switch.key and switch.toml, no SMS, and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    return env | {
        "SWITCH_CONFIG": str(tmp_path / "switch.toml"),
        "SWITCH_DATA_DIR": str(tmp_path / "data"),
        "SWITCH_DATABASE_URL": database_url,
        "SWITCH_REDIS_URL": services.redis_url,
        "SWITCH_TERMINALS_IDENTITY_KEY_FILE": str(tmp_path / "switch.key"),
        "SWITCH_SMS_ENABLED": "false",
        **settings,
    }


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


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def connections(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("switch_terminal_connections_total"))
    return float(line.split()[-1])


async def provision(
    url: str, identity: Path, port: int, wallet_paise: int = 100_000_00
) -> list[Credentials]:
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        return await provision_fleet(
            db, ledger, public_bytes(load_or_create(identity)), f"127.0.0.1:{port}",
            agents=1, terminals_per_agent=TERMINALS, wallet_paise=wallet_paise,
        )  # fmt: skip


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
    creds = trio.run(provision, database_url, identity, port)
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


async def invariants(url: str) -> list[str]:
    async with Database.open(url, 2) as db, Ledger.open(db) as ledger:
        return await ledger.check_invariants()
