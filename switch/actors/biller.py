"""One actor per biller: it owns the biller's connector, how many calls may be in
flight (``max_concurrency``) and how many may wait (``max_queue``). A call that would
wait beyond that is answered ``BillerBusy`` at once, before anything is sent: a slow
biller makes its own callers wait, never the switch's memory grow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from switch.config import BillerConfig
from switch.ledger import AccountKind, Ledger
from switch.pays.flow import Biller
from switch.protocols.billers.base import Bill, BillerBusy, BillerPayment, BillerReceipt, Connector
from switch.protocols.billers.http import HttpConnector
from switch.protocols.billers.stub import StubConnector

T = TypeVar("T")


class BillerActor:
    def __init__(self, cfg: BillerConfig, connector: Connector) -> None:
        self.cfg = cfg
        self.connector = connector
        self._limiter = trio.CapacityLimiter(cfg.max_concurrency)
        self._waiting = 0
        self.busy_refusals = 0

    @property
    def saturated(self) -> bool:
        return self._waiting >= self.cfg.max_queue

    async def fetch_bill(self, account: str) -> Bill:
        return await self._call(self.connector.fetch_bill, account)

    async def pay(self, payment: BillerPayment) -> BillerReceipt:
        return await self._call(self.connector.pay, payment)

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        return await self._call(self.connector.status, switch_txn_id)

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: object) -> T:
        if self.saturated:
            self.busy_refusals += 1
            raise BillerBusy(f"{self.cfg.id}: {self._waiting} calls already waiting")
        self._waiting += 1
        try:
            await self._limiter.acquire()
        finally:
            self._waiting -= 1
        try:
            return await fn(*args)
        finally:
            self._limiter.release()

    async def aclose(self) -> None:
        close = getattr(self.connector, "aclose", None)
        if close is not None:
            await close()


def make_connector(cfg: BillerConfig) -> Connector:
    if cfg.connector == "stub":
        return StubConnector(cfg.id)
    return HttpConnector(
        cfg.id, cfg.endpoint, timeout_s=cfg.timeout_s, max_concurrency=cfg.max_concurrency
    )


async def open_billers(configs: tuple[BillerConfig, ...], ledger: Ledger) -> dict[str, Biller]:
    """An actor per configured biller, each with its payable account in the ledger."""
    billers = {}
    for cfg in configs:
        account = await ledger.open_account(AccountKind.BILLER, f"biller:{cfg.id}", cfg.name)
        actor = BillerActor(cfg, make_connector(cfg))
        billers[cfg.id] = Biller(cfg.id, cfg.name, actor, account.id)
    return billers
