"""HTTP client cost under trio: httpx vs the switch's own client (llhttp), same server.

    python -m loadtests.http_bench [--requests 5000] [--concurrency 32]

Starts a discom simulator in a child process and fetches bills through each client,
printing requests/s and the client process's CPU per request.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import httpx
import trio

from switch.protocols.http11 import HttpClient
from switch.services.common import free_tcp_port


async def with_switch_client(url: str, n: int, conc: int) -> None:
    client = HttpClient(url, max_connections=conc)
    await _drive(lambda i: client.get(f"/v1/bills/{2_001_000_000 + i % 1000}"), n, conc)
    await client.aclose()


async def with_httpx(url: str, n: int, conc: int) -> None:
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=conc)) as client:
        await _drive(lambda i: client.get(f"/v1/bills/{2_001_000_000 + i % 1000}"), n, conc)


async def _drive(call, n: int, conc: int) -> None:  # type: ignore[no-untyped-def]
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    async with trio.open_nursery() as nursery:
        for _ in range(conc):
            nursery.start_soon(worker)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    port = free_tcp_port()
    with tempfile.TemporaryDirectory() as tmp:
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "switch",
                "sim",
                "biller",
                "discom",
                "--port",
                str(port),
                "--data-dir",
                tmp,
                "--accounts",
                "1000",
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert sim.stdout is not None
            sim.stdout.readline()
            url = f"http://127.0.0.1:{port}"
            for name, fn in (
                ("switch client (llhttp)", with_switch_client),
                ("httpx", with_httpx),
                ("switch client (llhttp)", with_switch_client),
            ):
                cpu0, t0 = time.process_time(), time.perf_counter()
                trio.run(fn, url, args.requests, args.concurrency)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
                print(
                    f"{name:<11} {args.requests / wall:8.0f} req/s  "
                    f"{cpu / args.requests * 1e6:6.0f} us client CPU per request"
                )
        finally:
            sim.terminate()
            sim.wait()


if __name__ == "__main__":
    main()
