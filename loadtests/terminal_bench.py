"""Terminal protocol benchmark: handshakes/s, authenticated frames/s, idle memory.

    python -m loadtests.terminal_bench [--terminals 10000] [--ping-s 10]

1. Codec only, in this process: server-side handshakes/s (verify the terminal's
   signature, sign, X25519, HKDF) and authenticated request frames/s (HMAC check,
   msgpack decode, sequence and schema checks).
2. End to end: provisions ``--terminals`` terminals in a fresh database, starts
   ``switch serve`` as a separate process, connects every terminal (handshakes/s over
   TCP, the terminal lookup in PostgreSQL included), measures the switch process's
   resident memory with all of them connected and idle, then sends pings on 100 of
   the connections for ``--ping-s`` seconds (authenticated round trips/s).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loadtests.ledger_bench import fresh_database
from simulators.epos.connection import EposConnection
from switch.config import load as load_config
from switch.db.database import Database
from switch.ledger import Ledger
from switch.protocols.terminal import crypto
from switch.protocols.terminal.session import ClientSession, ServerSession, ServerVerified
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services.common import free_tcp_port


def codec_figures(seconds: float = 3.0) -> dict[str, float]:
    switch_key, terminal_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    switch_pub, terminal_pub = crypto.public_bytes(switch_key), crypto.public_bytes(terminal_key)
    server_s = 0.0
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        client = ClientSession("T1", terminal_key, switch_pub)
        hello = client.start()
        t0 = time.perf_counter()
        server = ServerSession(switch_key)
        server.receive_data(hello)
        server.next_event()
        reply = server.accept_hello(terminal_pub)
        server_s += time.perf_counter() - t0
        client.receive_data(reply)
        verified = client.next_event()
        assert isinstance(verified, ServerVerified)
        t0 = time.perf_counter()
        server.receive_data(verified.reply)
        server.next_event()
        server_s += time.perf_counter() - t0
        n += 1
    client.receive_data(server.send({"type": "welcome"}))
    client.next_event()
    frames = [
        client.send({"type": "fetch_bill", "rid": i, "biller": "UPPCL", "account": "1234567890"})
        for i in range(100_000)
    ]
    t0 = time.perf_counter()
    for wire in frames:
        server.receive_data(wire)
        server.next_event()
    frame_s = time.perf_counter() - t0
    return {
        "codec_handshakes_per_s": round(n / server_s),
        "codec_frames_per_s": round(len(frames) / frame_s),
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def provision(
    url: str, identity: Path, address: str, count: int, wallet_paise: int = 0
) -> list[Credentials]:
    switch_pub = crypto.public_bytes(load_or_create(identity))
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        per_agent = 100
        return await provision_fleet(
            db,
            ledger,
            switch_pub,
            address,
            agents=max(1, count // per_agent),
            terminals_per_agent=min(per_agent, count),
            wallet_paise=wallet_paise,
            prefix="BENCH",
        )


STUB_BILLERS = """
[[billers]]
id = "UPPCL"
name = "UPPCL (stub: answers at once)"
connector = "stub"
"""


@contextmanager
def switch_process(url: str, identity: Path, port: int, env: dict[str, str]) -> Iterator[int]:
    """``switch serve`` as its own process on ``port``, with stub billers and ``env``
    on top of the benchmark's settings; yields its pid once it serves."""
    config = identity.parent / "bench.toml"
    config.write_text(STUB_BILLERS)
    server = subprocess.Popen(
        [sys.executable, "-m", "switch", "serve", "--port", str(port)],
        env={
            **os.environ,
            "SWITCH_CONFIG": str(config),
            "SWITCH_DATABASE_URL": url,
            "SWITCH_REDIS_URL": "redis://unused",
            "SWITCH_TERMINALS_IDENTITY_KEY_FILE": str(identity),
            "SWITCH_ADMIN_ENABLED": "false",
            "SWITCH_OPS_METRICS_PORT": "0",
            "SWITCH_SMS_ENABLED": "false",
            **env,
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "switch serving terminals on ..."
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


async def connect_all(
    creds: list[Credentials], nursery: trio.Nursery
) -> tuple[list[EposConnection], float]:
    conns: list[EposConnection] = []
    limit = trio.CapacityLimiter(200)

    async def one(c: Credentials) -> None:
        async with limit:
            host, port = c.host_port
            stream = await trio.open_tcp_stream(host, port)
            conn = EposConnection(c, stream, 30.0)
            await conn.handshake()
            conns.append(conn)
            nursery.start_soon(conn.read_loop)

    t0 = time.perf_counter()
    async with trio.open_nursery() as inner:
        for c in creds:
            inner.start_soon(one, c)
    return conns, time.perf_counter() - t0


async def ping_for(conns: list[EposConnection], seconds: float) -> int:
    count = 0
    stop = trio.current_time() + seconds

    async def loop(conn: EposConnection) -> None:
        nonlocal count
        while trio.current_time() < stop:
            await conn.ping()
            count += 1

    async with trio.open_nursery() as nursery:
        for conn in conns:
            nursery.start_soon(loop, conn)
    return count


async def end_to_end(creds: list[Credentials], server_pid: int, ping_s: float) -> dict[str, float]:
    base = rss_kib(server_pid)
    async with trio.open_nursery() as nursery:
        conns, took = await connect_all(creds, nursery)
        await trio.sleep(1)
        loaded = rss_kib(server_pid)
        pings = await ping_for(conns[:100], ping_s)
        nursery.cancel_scope.cancel()
    return {
        "terminals": len(conns),
        "tcp_handshakes_per_s": round(len(conns) / took),
        "switch_rss_idle_mib": round(base / 1024, 1),
        "switch_rss_connected_mib": round(loaded / 1024, 1),
        "kib_per_idle_terminal": round((loaded - base) / len(conns), 1),
        "authenticated_round_trips_per_s": round(pings / ping_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--ping-s", type=float, default=10.0)
    args = parser.parse_args()
    result: dict[str, object] = codec_figures()
    cfg = load_config()
    url = fresh_database(cfg.services, "terminal_bench")
    with tempfile.TemporaryDirectory() as tmp:
        identity = Path(tmp) / "switch.key"
        port = free_tcp_port()
        creds = trio.run(provision, url, identity, f"127.0.0.1:{port}", args.terminals)
        env = {
            "SWITCH_TERMINALS_IDLE_TIMEOUT_S": "600",
            "SWITCH_TERMINALS_HANDSHAKE_TIMEOUT_S": "60",
            "SWITCH_TERMINALS_RATE_PER_S": "100000",
            "SWITCH_TERMINALS_RATE_BURST": "100000",
            # Every terminal here comes from 127.0.0.1: no per-address flood bounds.
            "SWITCH_TERMINALS_MAX_CONNECTIONS_PER_IP": "1000000",
            "SWITCH_TERMINALS_CONNECT_BURST_PER_IP": "1000000",
            "SWITCH_TERMINALS_CONNECT_RATE_PER_IP_PER_S": "1000000",
        }
        with switch_process(url, identity, port, env) as pid:
            result |= trio.run(end_to_end, creds, pid, args.ping_s)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
