"""Start a simulator (discom, water, sms, gateway, erp) on a port: for the CLI, the demo and tests.

async with trio.open_nursery() as n:
    sim, port = await start_simulator(n, "discom", data_dir, port=0, seed=1)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import trio

from simulators.common.http import serve_app
from simulators.discom.simulator import DiscomSimulator, discom_account
from simulators.erp.simulator import ErpSimulator
from simulators.gateway.simulator import GatewaySimulator
from simulators.sms.simulator import SmsSimulator
from simulators.water.simulator import WaterSimulator, water_account

KINDS = ("discom", "water", "sms", "gateway", "erp")
DEFAULT_ACCOUNTS = {"discom": 5000, "water": 2000}  # consumers a biller simulator knows


def consumer_accounts(kind: str, seed: int, count: int | None = None) -> list[str]:
    """The account numbers a biller simulator of ``kind`` started with ``seed`` knows
    (its first ``count``; all of them by default): the one numbering the simulators,
    the demo and the fleet share."""
    account = {"discom": discom_account, "water": water_account}[kind]
    total = DEFAULT_ACCOUNTS[kind] if count is None else count
    return [account(seed, n) for n in range(total)]


def build(
    kind: str,
    data_dir: Path,
    *,
    seed: int = 1,
    accounts: int | None = None,
    latency_s: float = 0.0,
    secret: str = "gateway-secret",
) -> Any:
    count = accounts or DEFAULT_ACCOUNTS.get(kind, 0)
    if kind == "discom":
        return DiscomSimulator(data_dir, seed=seed, accounts=count, latency_s=latency_s)
    if kind == "water":
        return WaterSimulator(data_dir, seed=seed, accounts=count, latency_s=latency_s)
    if kind == "sms":
        return SmsSimulator(data_dir)
    if kind == "gateway":
        return GatewaySimulator(data_dir, secret=secret, seed=seed)
    if kind == "erp":
        return ErpSimulator(data_dir)
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
    if hasattr(sim, "run"):  # a simulator with work of its own (the gateway's callbacks)
        await nursery.start(sim.run)
    faults = getattr(sim, "faults", None)
    bound: int = await nursery.start(
        functools.partial(serve_app, sim.app, host, port, faults=faults)
    )
    return sim, bound
