"""An HAProxy configuration for several switch nodes: one terminal address for all.

    python -m switch.ops.haproxy --listen 0.0.0.0:7400 --admin-listen 0.0.0.0:8080 \\
        --node n1=10.0.0.11:7400:9400:8080 --node n2=10.0.0.12:7400:9400:8080 > haproxy.cfg

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

The admin API (and the pages on its port) goes through HAProxy too, in HTTP mode,
to every node that serves it: HAProxy adds the caller's address to
``X-Forwarded-For``, so list HAProxy's address in the nodes' ``[admin]
trusted_proxies`` and the sign-in limits count the real caller.
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
    admin_port: int | None = None  # None: this node serves no admin API

    @classmethod
    def parse(cls, spec: str) -> Node:
        """``name=host:terminal_port:metrics_port[:admin_port]``."""
        name, _, rest = spec.partition("=")
        host, _, ports = rest.partition(":")
        numbers = [int(p) for p in ports.split(":")]
        return cls(name, host, numbers[0], numbers[1], numbers[2] if len(numbers) > 2 else None)


def haproxy_config(
    nodes: Sequence[Node],
    listen: str,
    terminals: TerminalsConfig | None = None,
    maxconn: int | None = None,
    admin_listen: str | None = None,
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
    if admin_listen:
        lines += _admin_sections([n for n in nodes if n.admin_port is not None], admin_listen)
    return "\n".join(lines) + "\n"


def _admin_sections(nodes: Sequence[Node], listen: str) -> list[str]:
    """The admin API in HTTP mode, to every node that serves it."""
    lines = [
        "",
        "frontend admin",
        "    mode http",
        f"    bind {listen}",
        "    timeout client 60s",
        "    option forwardfor  # the nodes' sign-in limits see the real caller",
        "    default_backend switch_admin",
        "",
        "backend switch_admin",
        "    mode http",
        "    timeout server 60s",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        "    default-server inter 500ms fall 2 rise 2",
    ]
    return lines + [
        f"    server {n.name} {n.host}:{n.admin_port} check port {n.metrics_port}" for n in nodes
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen", default="0.0.0.0:7400", help="where terminals connect")
    parser.add_argument("--maxconn", type=int, default=None, help="connections at once")
    parser.add_argument("--admin-listen", default=None, help="where the admin API is reached")
    parser.add_argument(
        "--node",
        action="append",
        required=True,
        metavar="NAME=HOST:TERMINAL_PORT:METRICS_PORT[:ADMIN_PORT]",
        help="a switch node (repeat for each)",
    )
    args = parser.parse_args()
    nodes = [Node.parse(n) for n in args.node]
    config = haproxy_config(
        nodes, args.listen, maxconn=args.maxconn, admin_listen=args.admin_listen
    )
    print(config, end="")


if __name__ == "__main__":
    main()
