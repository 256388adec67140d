"""Two switch nodes behind HAProxy (Debian's haproxy, the generated configuration):
terminals pay through one address; a node SIGKILLed under load is taken out of the
pool, its terminals reconnect to the survivor and go on with the same refs, and the
survivor's recovery finishes the dead node's pays once their leases have run out."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trio

from loadtests.haproxy_bench import accepts, ready
from simulators.epos.fleet import Consumer, FleetStats, run_fleet
from switch.ops.haproxy import Node, haproxy_config
from switch.services import ServiceUrls
from switch.services.common import free_tcp_port
from tests.processes import invariants, provision, switch_env, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None,
    reason="Debian's haproxy is not installed (.ci/run installs it)",
)
WALLET_PAISE = 100_00_000_00  # ₹1 crore
STUB = """
[[billers]]
id = "UPPCL"
name = "UPPCL (stub)"
connector = "stub"
timeout_s = 0.5
"""


def open_pays(url: str) -> int:
    from tests.helpers import scalar

    return int(scalar(url, "SELECT count(*) FROM pays WHERE state NOT IN ('posted', 'voided')"))


def test_a_node_killed_under_load_its_terminals_go_on_through_the_survivor(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    identity, config = tmp_path / "switch.key", tmp_path / "switch.toml"
    config.write_text(STUB)
    env = switch_env(
        tmp_path,
        database_url,
        services,
        SWITCH_ADMIN_TRUSTED_PROXIES="127.0.0.1",  # HAProxy's address
        SWITCH_PAYS_RECOVERY_IDLE_S="2",  # a dead node's pays are taken over soon
        # One agent pays for every terminal here: limits to match.
        SWITCH_ADMIN_DEFAULT_MAX_BALANCE_PAISE=str(WALLET_PAISE),
        SWITCH_ADMIN_DEFAULT_PER_DAY_PAISE=str(WALLET_PAISE),
    )
    nodes = [
        Node(f"n{i}", "127.0.0.1", free_tcp_port(), free_tcp_port(), free_tcp_port())
        for i in (1, 2)
    ]
    front, admin_front = free_tcp_port(), free_tcp_port()
    creds = trio.run(provision, database_url, identity, front, 24, WALLET_PAISE)
    trio.run(staff_user, database_url)
    config_text = haproxy_config(
        nodes, f"127.0.0.1:{front}", maxconn=2000, admin_listen=f"127.0.0.1:{admin_front}"
    )
    (tmp_path / "haproxy.cfg").write_text(config_text)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in nodes:
            command = [sys.executable, "-m", "switch", "serve", "--port", str(n.terminal_port)]
            command += ["--metrics-port", str(n.metrics_port)]
            node_env = env | {"SWITCH_ADMIN_PORT": str(n.admin_port)}
            procs.append(subprocess.Popen(command, env=node_env, stdin=subprocess.DEVNULL))
        wait_until(lambda: all(ready(n.metrics_port) for n in nodes))
        haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")])
        procs.append(haproxy)
        wait_until(lambda: accepts(front))
        time.sleep(1.5)  # both nodes past HAProxy's first health checks
        assert [login(admin_front) for _ in range(4)] == [200] * 4  # both nodes answer

        stats = FleetStats()
        before_kill = trio.run(fleet_with_a_kill, creds, stats, procs[0])
        assert stats.pays_ok - before_kill > 50, "pays did not go on after the kill"
        assert stats.reconnects > 0  # the dead node's terminals came back, elsewhere
        assert procs[1].poll() is None and ready(nodes[1].metrics_port)  # the survivor
        assert haproxy.poll() is None
        assert [login(admin_front) for _ in range(4)] == [200] * 4  # the survivor's API
        wait_until(lambda: open_pays(database_url) == 0, timeout_s=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    assert trio.run(invariants, database_url) == []


PASSWORD = "through-the-proxy-7"


async def staff_user(url: str) -> None:
    from switch.admin.auth import Auth
    from switch.admin.users import create_user
    from switch.config import AdminConfig
    from switch.db.database import Database

    async with Database.open(url, 2) as db:
        auth = Auth(db, AdminConfig(argon2_time_cost=1, argon2_memory_kib=8192))
        await create_user(db, auth, "test", "ops1", "operations", "9876500001", PASSWORD)


def login(admin_port: int) -> int:
    return _login(admin_port).status_code


def login_token(admin_port: int) -> str:
    """The staff user's bearer token from the admin API on ``admin_port``."""
    r = _login(admin_port)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def _login(admin_port: int) -> httpx.Response:
    body = {"username": "ops1", "password": PASSWORD}
    return httpx.post(f"http://127.0.0.1:{admin_port}/v1/auth/login", json=body, timeout=10)


async def fleet_with_a_kill(creds: list, stats: FleetStats, victim: subprocess.Popen[bytes]) -> int:  # type: ignore[type-arg]
    """Run the fleet for 12 s; SIGKILL ``victim`` after 4 s. Pays done by then."""
    done_at_kill = [0]

    async def kill_later() -> None:
        await trio.sleep(4)
        done_at_kill[0] = stats.pays_ok
        victim.send_signal(signal.SIGKILL)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(kill_later)
        await run_fleet(
            creds, [Consumer("UPPCL", "1234567890")], 12.0, stats=stats, request_timeout_s=3.0
        )
    return done_at_kill[0]
