"""Connection-flood benchmark: a real terminal's handshake and fetch+pay while thousands
of sockets are held open without a word.

    python -m loadtests.flood_bench [--sockets 5000] [--addresses 20] [--samples 200]
                                    [--interval-s 0.1] [--switch-env NAME=VALUE ...]

Starts ``switch serve`` as its own process on a fresh database (stub billers), then:

1. baseline: ``--samples`` handshakes of a real terminal (a new connection each,
   one after the other) and as many fetch+pay pairs, with nothing else connected;
2. flood: ``--sockets`` silent connections spread over ``--addresses`` loopback
   addresses (127.0.0.2, 127.0.0.3, ...), each one opened again as soon as the
   switch closes it (the attacker keeps the pressure on), and the same samples
   measured meanwhile.

Prints p50/p99/max of both, how many connections the flood opened, and the switch's
CPU under the flood (its share of a core, and per flood connection). The figure the
gate is for: the flood's handshake p99 stays within a few times the baseline, under
100 ms.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from loadtests.cpu_bench import cpu_s
from loadtests.ledger_bench import fresh_database
from loadtests.terminal_bench import provision, switch_process
from simulators.epos.connection import EposConnection
from switch.config import load as load_config
from switch.provisioning.credentials import Credentials
from switch.services.common import free_tcp_port

PAY: dict[str, Any] = {"biller": "UPPCL", "account": "1234567890", "amount_paise": 100_00}


def quantiles_ms(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def sample_terminal(
    creds: Credentials, samples: int, interval_s: float = 0.0
) -> dict[str, Any]:
    """``samples`` handshakes (a new connection each) and fetch+pay pairs, one every
    ``interval_s`` at most."""
    handshakes: list[float] = []
    pays: list[float] = []
    host, port = creds.host_port
    for n in range(samples):
        await trio.sleep(interval_s)
        t0 = time.perf_counter()
        stream = await trio.open_tcp_stream(host, port)
        conn = EposConnection(creds, stream, 10.0)
        await conn.handshake()
        handshakes.append(time.perf_counter() - t0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.read_loop)
            t0 = time.perf_counter()
            bill = await conn.request("fetch_bill", biller=PAY["biller"], account=PAY["account"])
            assert "amount_paise" in bill, bill
            paid = await conn.request("pay", ref=f"flood-{time.time_ns()}-{n}", **PAY)
            assert paid["status"] == "success", paid
            pays.append(time.perf_counter() - t0)
            nursery.cancel_scope.cancel()
        await stream.aclose()
    return {"handshake": quantiles_ms(handshakes), "fetch_pay": quantiles_ms(pays)}


async def hold_silent(port: int, sockets: int, addresses: int, opened: list[int]) -> None:
    """Keep ``sockets`` silent connections open from ``addresses`` loopback addresses:
    each one the switch closes is opened again. Runs until cancelled."""

    async def one(source: str) -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
            except OSError:
                await trio.sleep(0.05)
                continue
            opened[0] += 1
            try:
                await stream.receive_some(1)  # b"" or an error: the switch closed it
            except trio.BrokenResourceError:
                pass
            finally:
                await stream.aclose()
            await trio.sleep(0.01)

    async with trio.open_nursery() as nursery:
        for i in range(sockets):
            nursery.start_soon(one, f"127.0.0.{2 + i % addresses}")
            if i % 200 == 199:
                await trio.sleep(0.01)  # the kernel's accept queue drains meanwhile


async def flood_figures(
    creds: Credentials,
    sockets: int,
    addresses: int,
    samples: int,
    interval_s: float,
    settle_s: float = 2.0,
    switch_pid: int | None = None,
) -> dict[str, Any]:
    """The terminal's figures without, then with, the flood; sampling under the flood
    lasts ``samples * interval_s`` at least (make that longer than the switch's
    handshake deadline, so the flood's sockets time out and reconnect meanwhile).

    The flood runs in a process of its own: in this one, its thousands of tasks would
    slow the measuring terminal's own event loop, and the figure would be the
    attacker's latency, not the switch's. With ``switch_pid`` (a switch in a process
    of its own), also the switch's CPU under the flood: its share of one core, and
    per connection the flood opened."""
    result: dict[str, Any] = {
        "sockets": sockets,
        "addresses": addresses,
        "samples": samples,
        "interval_s": interval_s,
    }
    result["baseline"] = await sample_terminal(creds, samples)
    with tempfile.TemporaryDirectory() as tmp:
        counted = Path(tmp) / "opened"
        flood = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "loadtests.flood_bench",
                "--hold",
                str(creds.host_port[1]),
                "--sockets",
                str(sockets),
                "--addresses",
                str(addresses),
                "--count-file",
                str(counted),
            ]
        )
        try:
            await trio.sleep(settle_s)  # the flood is in place
            opened_before = await _opened(counted)
            cpu_before = cpu_s(switch_pid) if switch_pid else 0.0
            t0 = time.perf_counter()
            result["flood"] = await sample_terminal(creds, samples, interval_s)
            took = time.perf_counter() - t0
            result["flood_s"] = round(took, 1)
            if switch_pid:
                used = cpu_s(switch_pid) - cpu_before
                opened = max(1, await _opened(counted) - opened_before)
                result["switch_core_share"] = round(used / took, 2)
                result["switch_us_per_flood_connection"] = round(used * 1e6 / opened)
        finally:
            flood.terminate()
            with trio.move_on_after(30):
                await flood.wait()
        result["flood_connections_opened"] = await _opened(counted)
    return result


async def _opened(count_file: Path) -> int:
    """How many connections the flood's process has opened so far."""
    path = trio.Path(count_file)
    return int((await path.read_text() if await path.exists() else "") or 0)


async def hold(port: int, sockets: int, addresses: int, count_file: Path) -> None:
    """The flood's process: hold the sockets, write how many were opened each 0.5 s."""
    opened = [0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold_silent, port, sockets, addresses, opened)
        while True:
            await trio.Path(count_file).write_text(str(opened[0]))
            await trio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--interval-s", type=float, default=0.1, help="between samples")
    parser.add_argument(
        "--switch-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the switch (e.g. SWITCH_TERMINALS_BUSY_HANDSHAKES=100)",
    )
    parser.add_argument("--hold", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:  # the flood's own process
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        trio.run(hold, args.hold, args.sockets, args.addresses, Path(args.count_file))
        return
    env = {"SWITCH_TERMINALS_RATE_PER_S": "1000"}
    env |= dict(item.split("=", 1) for item in args.switch_env)
    cfg = load_config()
    url = fresh_database(cfg.services, "flood_bench")
    with tempfile.TemporaryDirectory() as tmp:
        identity = Path(tmp) / "switch.key"
        port = free_tcp_port()
        wallet_paise = 2 * args.samples * PAY["amount_paise"] + 1_000_00
        [creds] = trio.run(provision, url, identity, f"127.0.0.1:{port}", 1, wallet_paise)
        with switch_process(url, identity, port, env) as pid:
            result = trio.run(
                flood_figures,
                creds,
                args.sockets,
                args.addresses,
                args.samples,
                args.interval_s,
                2.0,
                pid,
            )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
