"""A terminal's sessions across switch processes (two ``switch serve`` nodes on one
database): a newer session on one node ends the older one on the other, and a block
made through one node's back office cuts the terminal's session on the other."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from loadtests.haproxy_bench import accepts, ready
from simulators.epos.connection import ConnectionLost, EposConnection, connect
from switch.provisioning.credentials import Credentials
from switch.services import ServiceUrls
from switch.services.common import free_tcp_port
from tests.processes import provision, switch_env, wait_until
from tests.test_haproxy import STUB, login_token, staff_user


def at(creds: Credentials, port: int) -> Credentials:
    """The same terminal, connecting to another node."""
    return dataclasses.replace(creds, address=f"127.0.0.1:{port}")


async def lost(conn: EposConnection, within_s: float = 5.0) -> ConnectionLost:
    with trio.fail_after(within_s):
        while conn.lost is None:  # noqa: ASYNC110 (the connection's read loop sets it)
            await trio.sleep(0.02)
    return conn.lost


def test_newer_sessions_and_blocks_reach_the_other_node(
    database_url: str, services: ServiceUrls, tmp_path: Path
) -> None:
    (tmp_path / "switch.toml").write_text(STUB)
    env = switch_env(tmp_path, database_url, services)
    ports = [(free_tcp_port(), free_tcp_port(), free_tcp_port()) for _ in range(2)]
    creds = trio.run(provision, database_url, tmp_path / "switch.key", ports[0][0], 2)
    trio.run(staff_user, database_url)
    procs = []
    try:
        for terminal, metrics, admin in ports:
            command = [sys.executable, "-m", "switch", "serve", "--port", str(terminal)]
            command += ["--metrics-port", str(metrics)]
            node_env = env | {"SWITCH_ADMIN_PORT": str(admin)}
            procs.append(subprocess.Popen(command, env=node_env, stdin=subprocess.DEVNULL))
        wait_until(lambda: all(ready(m) for _, m, _ in ports))
        (a, _, _), (b, _, b_admin) = ports
        wait_until(lambda: accepts(b_admin))  # ready is for terminals; the admin API follows
        token = login_token(b_admin)
        trio.run(sessions_cross_nodes, creds, a, b, b_admin, token)
        assert all(p.poll() is None for p in procs)  # neither node died of it
        # Node A counts the two sessions it ended because of node B.
        text = httpx.get(f"http://127.0.0.1:{ports[0][1]}/metrics", timeout=5).text
        assert 'switch_session_events_total{outcome="applied"} 2.0' in text
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)


async def sessions_cross_nodes(
    creds: list[Credentials], a: int, b: int, b_admin: int, token: str
) -> None:
    first, second = creds
    # The same terminal on node A, then on node B: A's session ends.
    async with connect(at(first, a)) as older:
        await older.ping()
        async with connect(at(first, b)) as newer:
            assert (await lost(older)).code == "session_replaced"
            await newer.ping()  # the newer one lives on
            assert newer.lost is None
    # A terminal on node A, blocked through node B's back office: cut on A.
    async with connect(at(second, a)) as session:
        await session.ping()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{b_admin}") as http:
            r = await http.post(
                f"/v1/terminals/{second.terminal_id}/block",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
        assert (await lost(session)).code == "terminal_blocked"
