"""The chaos run's faults of the switch's own servers, and the check after each.

PostgreSQL is stopped cleanly and started again, or its postmaster SIGKILLed (every
backend dies with it) and started again; Redis is flushed and restarted, SIGKILLed
and started again, or frozen with SIGSTOP (alive, silent: every call waits on its
timeout) and let go with SIGCONT.

The switch is not restarted for any of these: it must ride them out. So after each,
``Liveness.check`` proves the switch process is the same one that was running before
the fault and still serving: a probe terminal's pay gets a final answer. The time from
"the server is back" to that answer is recorded per event (the goal: 5 s). A harness
that restarted the switch after these faults would hide a switch that died of them.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from simulators.epos.connection import ConnectionLost, RequestTimeout, connect
from switch.config import ServicesConfig
from switch.provisioning.credentials import Credentials
from switch.services import postgres
from switch.services import redis as redis_service

SERVED_WITHIN_S = 30.0  # a switch that serves no pay this long after a fault is a failure
PROBE_REQUEST_TIMEOUT_S = 3.0
REDIS_FROZEN_S = 3.0
PG_DOWN_S = 1.0


@dataclass
class Liveness:
    """The switch process that must survive, and a terminal to prove it serves."""

    switch: Callable[[], subprocess.Popen[bytes]]
    probe: Credentials
    account: str
    violations: list[str] = field(default_factory=list)
    back_to_served_s: dict[str, list[float]] = field(default_factory=dict)
    _refs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def alive(self, when: str) -> int | None:
        """The switch's pid if it is running; a violation if it exited by itself."""
        proc = self.switch()
        if proc.poll() is not None:
            self.violations.append(f"the switch exited by itself ({when}): rc {proc.returncode}")
            return None
        return proc.pid

    async def check(self, event: str, pid_before: int | None, back_at: float) -> None:
        """The same switch, serving: a probe pay's final answer, timed from ``back_at``."""
        served_at = await self._first_pay_served()
        pid = self.alive(f"after {event}")
        if pid is not None and pid != pid_before:
            self.violations.append(f"after {event} the switch is another process")
        if served_at is None:
            self.violations.append(f"after {event} no pay was served in {SERVED_WITHIN_S:.0f} s")
            return
        self.back_to_served_s.setdefault(event, []).append(round(served_at - back_at, 2))

    async def _first_pay_served(self) -> float | None:
        ref = f"probe-{time.time_ns() % 10**12:x}-{next(self._refs)}"
        fields = {"ref": ref, "biller": "UPPCL", "account": self.account, "amount_paise": 100}
        with trio.move_on_after(SERVED_WITHIN_S):
            while True:
                try:
                    async with connect(
                        self.probe, request_timeout_s=PROBE_REQUEST_TIMEOUT_S
                    ) as conn:
                        answer = await conn.request("pay", **fields)
                        if answer.get("status") in ("success", "failed"):
                            return time.monotonic()
                except (ConnectionLost, RequestTimeout, OSError, trio.TooSlowError):
                    pass
                await trio.sleep(0.1)
        return None


async def restart_postgres(services: ServicesConfig) -> float:
    """Stop cleanly (fast: sessions are cut), start again; when it was back."""
    await trio.to_thread.run_sync(postgres.stop, services)
    await trio.sleep(PG_DOWN_S)
    await start_postgres(services)  # a stop that timed out leaves it shutting down a while
    return time.monotonic()


async def kill_postgres(services: ServicesConfig) -> float:
    """SIGKILL the postmaster (its backends end with it), start again when they have."""
    pid = postgres.running_pid(services)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    await trio.sleep(PG_DOWN_S)
    await start_postgres(services)
    return time.monotonic()


async def start_postgres(services: ServicesConfig, within_s: float = 60.0) -> None:
    """Start it, trying again while the old server's last backends still hold its
    shared memory (a start right after a SIGKILL is refused until they are gone)."""
    with trio.fail_after(within_s):
        while True:
            try:
                await trio.to_thread.run_sync(postgres.start, services)
                return
            except Exception:
                await trio.sleep(0.3)


async def flush_redis(services: ServicesConfig) -> float:
    import redis as redis_client

    client = redis_client.Redis.from_url(redis_service.url(services))
    client.flushall()
    client.close()
    await trio.to_thread.run_sync(redis_service.stop, services)
    await trio.to_thread.run_sync(redis_service.start, services)
    return time.monotonic()


async def kill_redis(services: ServicesConfig) -> float:
    pid = redis_service.running_pid(services)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    await trio.sleep(0.5)
    await trio.to_thread.run_sync(redis_service.start, services)
    return time.monotonic()


async def freeze_redis(services: ServicesConfig) -> float:
    """SIGSTOP for a few seconds: Redis alive and silent; then SIGCONT."""
    pid = redis_service.running_pid(services)
    if pid is None:
        return time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        await trio.sleep(REDIS_FROZEN_S)
    finally:
        os.kill(pid, signal.SIGCONT)
    return time.monotonic()


SERVICE_FAULTS = {
    "postgres restart": restart_postgres,
    "postgres SIGKILL": kill_postgres,
    "redis flush + restart": flush_redis,
    "redis SIGKILL": kill_redis,
    "redis SIGSTOP": freeze_redis,
}
