"""``switch serve --workers N``: N switch processes sharing one terminal port.

One switch process runs on one core (its event loop is one thread). To use more,
N worker processes each open the terminal port with ``SO_REUSEPORT``: the kernel
spreads new connections over them. Nothing else needs to know: every pay is one row
with a guarded state and a lease, each worker's recovery leases what it drives, the
per-day limits are counted in Redis, settlement takes a per-biller lock. Worker 0
also serves the admin API; worker i serves its metrics on the metrics port + i.

This process is their supervisor: it starts them, forwards SIGINT/SIGTERM, and starts
again a worker that died (at most ``MAX_RESTARTS`` in ``RESTART_WINDOW_S``; past
that, something is wrong with every start: it stops them all and exits 1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
POLL_S = 0.2
STOP_GRACE_S = 30.0


@dataclass
class Workers:
    count: int
    port: int  # the terminal port they share
    metrics_port: int  # worker i: metrics_port + i (0: each any free port)
    switch_args: Sequence[str]  # the CLI's own options (--config ...), before "serve"
    children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: list[float] = field(default_factory=list)
    stopping: bool = False

    def command(self, index: int) -> list[str]:
        metrics = self.metrics_port + index if self.metrics_port else 0
        return [
            sys.executable, "-m", "switch", *self.switch_args, "serve",
            "--port", str(self.port), "--metrics-port", str(metrics),
        ]  # fmt: skip

    def environment(self, index: int) -> dict[str, str]:
        env = dict(os.environ)
        env["SWITCH_TERMINALS_REUSE_PORT"] = "true"
        env["SWITCH_WORKER_INDEX"] = str(index)
        if index > 0:
            env["SWITCH_ADMIN_ENABLED"] = "false"  # one admin API, on worker 0
            env["SWITCH_PARTNERS_ENABLED"] = "false"  # and one partner API
        return env

    def start(self, index: int) -> None:
        self.children[index] = subprocess.Popen(
            self.command(index), env=self.environment(index), stdin=subprocess.DEVNULL
        )

    def run(self) -> int:
        """Start the workers and keep them running until a signal; the exit status."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for index in range(self.count):
                self.start(index)
            print(
                f"switch supervising {self.count} workers on terminal port {self.port} "
                f"(pid {os.getpid()})",
                flush=True,
            )
            status = self._watch()
        finally:
            self._stop_all()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return status

    def _watch(self) -> int:
        while not self.stopping:
            time.sleep(POLL_S)
            for index, child in list(self.children.items()):
                code = child.poll()
                if code is None or self.stopping:
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S]
                if len(self.restarts) >= MAX_RESTARTS:
                    print(
                        f"worker {index} exited ({code}); {MAX_RESTARTS} restarts in "
                        f"{RESTART_WINDOW_S:.0f} s already: stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
                self.restarts.append(now)
                print(f"worker {index} exited ({code}): starting it again", flush=True)
                self.start(index)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
