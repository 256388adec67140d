"""An HAProxy configuration for several switch nodes: one terminal address for all.

    python -m switch.ops.haproxy --listen 0.0.0.0:7400 \\
        --node n1=10.0.0.11:7400:9400 --node n2=10.0.0.12:7400:9400 > haproxy.cfg

Terminals connect to HAProxy (TCP mode: the terminal protocol is end-to-end between
terminal and switch, HAProxy never reads it). Each node is health-checked on its
``/readyz`` (a node that stops accepting, or whose database is away, leaves the pool
in a second; its sessions are cut, so its terminals reconnect to a survivor at once).
New connections go to the node with the fewest (``leastconn``: sessions are long).

Behind HAProxy every connection comes from HAProxy's address, so the switch's own
per-address bounds (``switch/actors/gate.py``) would see one address for every
terminal. They move here, per source address, with HAProxy's stick table: at most
``max_connections_per_ip`` open, at most ``connect_burst_per_ip`` new in any 10 s
(plus the rate). Give the nodes behind it per-address bounds as large as their whole
capacity (``[terminals] max_connections_per_ip``, ``connect_burst_per_ip``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from switch.config import TerminalsConfig


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    terminal_port: int
    metrics_port: int  # its /readyz

    @classmethod
    def parse(cls, spec: str) -> Node:
        """``name=host:terminal_port:metrics_port``."""
        name, _, rest = spec.partition("=")
        host, terminal, metrics = rest.rsplit(":", 2)
        return cls(name, host, int(terminal), int(metrics))


def haproxy_config(
    nodes: Sequence[Node],
    listen: str,
    terminals: TerminalsConfig | None = None,
    maxconn: int | None = None,
) -> str:
    """The whole configuration file (``listen``: host:port terminals connect to;
    ``maxconn``: connections at once, by default every node's ``max_connections``;
    HAProxy needs two file descriptors for each)."""
    t = terminals or TerminalsConfig()
    maxconn = maxconn or t.max_connections * max(1, len(nodes))
    per_10s = t.connect_burst_per_ip + int(10 * t.connect_rate_per_ip_per_s)
    # Longer than any quiet the protocol allows (heartbeats every heartbeat_s; the
    # switch itself closes sessions idle past idle_timeout_s).
    idle_s = int(max(t.idle_timeout_s, t.heartbeat_s) * 2)
    lines = [
        "global",
        f"    maxconn {maxconn}",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        f"    timeout client {idle_s}s",
        f"    timeout server {idle_s}s",
        "    option redispatch  # a node that refuses the connection: try another",
        "    retries 2",
        "",
        "frontend terminals",
        f"    bind {listen}",
        "    stick-table type ip size 200k expire 60s store conn_cur,conn_rate(10s)",
        "    tcp-request connection track-sc0 src",
        f"    tcp-request connection reject if {{ sc0_conn_cur gt {t.max_connections_per_ip} }}",
        f"    tcp-request connection reject if {{ sc0_conn_rate gt {per_10s} }}",
        "    default_backend switch_nodes",
        "",
        "backend switch_nodes",
        "    balance leastconn",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        "    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions",
    ]
    lines += [
        f"    server {n.name} {n.host}:{n.terminal_port} check port {n.metrics_port}" for n in nodes
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", default="0.0.0.0:7400", help="where terminals connect")
    parser.add_argument("--maxconn", type=int, default=None, help="connections at once")
    parser.add_argument(
        "--node",
        action="append",
        required=True,
        metavar="NAME=HOST:TERMINAL_PORT:METRICS_PORT",
        help="a switch node (repeat for each)",
    )
    args = parser.parse_args()
    nodes = [Node.parse(n) for n in args.node]
    print(haproxy_config(nodes, args.listen, maxconn=args.maxconn), end="")


if __name__ == "__main__":
    main()
