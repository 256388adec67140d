"""PostgreSQL goes away under a running switch (a clean fast stop, and a SIGKILL of the
postmaster) and comes back: the switch never exits, tells terminals ``unavailable``
meanwhile, is not ready while it cannot reach its database, and serves again by itself.
The test is the switch's own process: had the switch died, the test would have too."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from loadtests.chaos_services import start_postgres
from simulators.epos.connection import EposConnection, connect
from switch.config import ServicesConfig
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch
from switch.services import postgres


def stop_cleanly(cfg: ServicesConfig) -> None:
    postgres.stop(cfg)


def kill_postmaster(cfg: ServicesConfig) -> None:
    pid = postgres.running_pid(cfg)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


async def ready(sw: RunningSwitch) -> int:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{sw.ops_port}/readyz", timeout=5)
    return r.status_code


async def pay(conn: EposConnection, ref: str) -> dict[str, Any]:
    return await conn.request(
        "pay", ref=ref, biller="UPPCL", account="1234567890", amount_paise=100_00
    )


async def keep_alive(conn: EposConnection) -> None:
    while True:
        await conn.ping()
        await trio.sleep(0.5)


@pytest.mark.parametrize("outage", [stop_cleanly, kill_postmaster], ids=["stop", "sigkill"])
async def test_the_switch_rides_out_a_database_outage(
    switch: RunningSwitch,
    terminals: list[Credentials],
    services_config: ServicesConfig,
    outage: Callable[[ServicesConfig], None],
) -> None:
    async with connect(terminals[0]) as conn:
        assert (await pay(conn, "BEFORE"))["status"] == "success"
        outage(services_config)
        try:
            await trio.sleep(0.5)
            during = await pay(conn, "DURING")
            assert during.get("code") == "unavailable" or during.get("status") == "pending"
            assert await ready(switch) == 503
        finally:
            # PostgreSQL can take seconds to start again after a SIGKILL (its old
            # backends hold its shared memory): the terminal keeps its session alive
            # meanwhile, as a real one does with its heartbeat (the test switch's idle
            # timeout is 2 s, shorter than the heartbeat it announces).
            async with trio.open_nursery() as nursery:
                nursery.start_soon(keep_alive, conn)
                await start_postgres(services_config)
                nursery.cancel_scope.cancel()
        back_at = trio.current_time()
        with trio.fail_after(10):  # the goal is 5 s; the bound leaves room for a slow box
            while (await pay(conn, "DURING")).get("status") not in ("success", "failed"):  # noqa: ASYNC110
                await trio.sleep(0.1)
        served_s = trio.current_time() - back_at
        assert (await pay(conn, "AFTER"))["status"] == "success"
    assert await ready(switch) == 200
    restarts = switch.supervisor.statistics().restarts
    print(f"first pay served {served_s:.2f} s after PostgreSQL was back; restarts {restarts}")
    pays = await switch.db.fetch("SELECT terminal_ref, state FROM pays ORDER BY id")
    assert [(p["terminal_ref"], p["state"]) for p in pays] == [
        ("BEFORE", "posted"),
        ("DURING", "posted"),
        ("AFTER", "posted"),
    ]


async def test_a_failing_task_is_started_again_not_fatal() -> None:
    from switch.actors.supervisor import Supervisor

    runs: list[float] = []

    async def flaky() -> None:
        runs.append(trio.current_time())
        if len(runs) < 4:
            raise ConnectionRefusedError("the database is restarting")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        supervisor = Supervisor(nursery, backoff_base_s=0.05, backoff_max_s=0.2)
        supervisor.start("flaky", flaky)
        with trio.fail_after(5):
            while len(runs) < 4:  # noqa: ASYNC110 (the supervised task's progress)
                await trio.sleep(0.01)
        stats = supervisor.statistics()
        assert stats.restarts == {"flaky": 3} and stats.running == 1
        assert "ConnectionRefusedError" in stats.last_error["flaky"]
        gaps = [b - a for a, b in itertools.pairwise(runs)]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2 - 1e-3  # bounded backoff
        nursery.cancel_scope.cancel()
