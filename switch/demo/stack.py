"""The demo's processes: four simulators and the switch, each a child process.

Children are started with their output to log files in the demo directory and
stopped with SIGTERM (then SIGKILL after a deadline) whatever happens, Ctrl-C
included, so the demo leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from switch.services.common import free_tcp_port

STOP_TIMEOUT_S = 15.0


@dataclass
class Stack:
    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_simulator(
        self,
        kind: str,
        *,
        seed: int,
        accounts: int | None = None,
        port: int | None = None,
        secret: str = "",
    ) -> int:
        port = port or free_tcp_port()
        args = [
            "sim",
            "biller",
            kind,
            "--port",
            str(port),
            "--data-dir",
            str(self.workdir / kind),
            "--seed",
            str(seed),
        ]
        if accounts:
            args += ["--accounts", str(accounts)]
        self._spawn(kind, args, {"GATEWAY_SECRET": secret} if secret else {})
        self.ports[kind] = port
        ready = {"sms": "/v1/messages?to=0", "gateway": "/v1/admin/books"}
        _wait_http(f"http://127.0.0.1:{port}{ready.get(kind, '/v1/totals')}", self._log(kind))
        return port

    def start_switch(
        self,
        config_file: Path,
        database_url: str,
        redis_url: str,
        port: int | None = None,
        workers: int = 1,
    ) -> int:
        """``switch serve`` (with ``workers`` processes on its port); its terminal port."""
        port = port or free_tcp_port()
        metrics_port = self.ports.get("switch_metrics") or free_tcp_port()
        admin_port = self.ports.get("switch_admin") or free_tcp_port()
        partner_port = self.ports.get("switch_partner") or free_tcp_port()
        env = {
            "SWITCH_CONFIG": str(config_file),
            "SWITCH_DATABASE_URL": database_url,
            "SWITCH_REDIS_URL": redis_url,
            "SWITCH_OPS_METRICS_PORT": str(metrics_port),
            "SWITCH_ADMIN_PORT": str(admin_port),
            "SWITCH_PARTNERS_PORT": str(partner_port),
        }
        log = self._log("switch")
        already = log.read_text().count("serving terminals") if log.exists() else 0
        self._spawn("switch", ["serve", "--port", str(port), "--workers", str(workers)], env)
        self.ports["switch"] = port
        self.ports["switch_metrics"] = metrics_port
        self.ports["switch_admin"] = admin_port
        self.ports["switch_partner"] = partner_port
        deadline = time.monotonic() + 60
        while log.read_text().count("serving terminals") < already + workers:
            if time.monotonic() > deadline or self.children["switch"].poll() is not None:
                raise RuntimeError(f"switch did not start; see {self._log('switch')}")
            time.sleep(0.1)
        return port

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def kill(self, name: str) -> None:
        """SIGKILL a child (the chaos tests' crash)."""
        proc = self.children[name]
        proc.kill()
        proc.wait(timeout=10)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self._log(name).open("ab")
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "switch", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            # Own process group: a Ctrl-C reaches the demo, which stops the children in
            # order (the switch drains before the billers go away).
            start_new_session=True,
        )

    def _log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"


def _wait_http(url: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer; see {log}")
