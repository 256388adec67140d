"""Start a simulator (discom, water, sms) on a port: for the CLI, the demo and tests.

async with trio.open_nursery() as n:
    sim, port = await start_simulator(n, "discom", data_dir, port=0, seed=1)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

from simulators.common.http import serve_app
from simulators.discom.simulator import DiscomSimulator
from simulators.sms.simulator import SmsSimulator
from simulators.water.simulator import WaterSimulator

KINDS = ("discom", "water", "sms")


def build(
    kind: str, data_dir: Path, *, seed: int = 1, accounts: int | None = None, latency_s: float = 0.0
) -> Any:
    if kind == "discom":
        return DiscomSimulator(data_dir, seed=seed, accounts=accounts or 5000, latency_s=latency_s)
    if kind == "water":
        return WaterSimulator(data_dir, seed=seed, accounts=accounts or 2000, latency_s=latency_s)
    if kind == "sms":
        return SmsSimulator(data_dir)
    raise ValueError(f"unknown simulator {kind!r}; one of {KINDS}")


async def start_simulator(
    nursery: trio.Nursery,
    kind: str,
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> tuple[Any, int]:
    """Build the simulator, start its durable log and HTTP server; return it and its port."""
    sim = build(kind, data_dir, **options)
    await nursery.start(sim.log.run)
    faults = getattr(sim, "faults", None)
    bound: int = await nursery.start(
        functools.partial(serve_app, sim.app, host, port, faults=faults)
    )
    return sim, bound
