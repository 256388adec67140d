"""One actor per biller: it owns the biller's connector, how many calls may be in
flight (``max_concurrency``), how many may wait (``max_queue``), and its circuit
breaker. A call that would wait beyond the queue is answered ``BillerBusy`` at once,
and while the breaker is open fetches and pays are refused with
``BillerUnavailable`` at once: before anything is sent, so nothing can be applied.
A sick biller costs its own callers nothing and the other billers nothing at all
(each has its own actor: a bulkhead). Status inquiries always go out: recovery needs
them, and backs off by itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import trio

from switch.actors.breaker import BreakerPolicy, CircuitBreaker
from switch.config import BillerConfig
from switch.ledger import AccountKind, Ledger
from switch.ops.metrics import SwitchMetrics
from switch.ops.take import take
from switch.pays.flow import Biller, GateStatistics
from switch.protocols.billers.base import (
    Bill,
    BillerBusy,
    BillerPayment,
    BillerReceipt,
    BillerRejected,
    BillerUnavailable,
    Connector,
    OutcomeUnknown,
    ReportedPayment,
    UnknownConsumer,
)
from switch.protocols.billers.http import HttpConnector
from switch.protocols.billers.stub import StubConnector

T = TypeVar("T")


class BillerActor:
    def __init__(
        self, cfg: BillerConfig, connector: Connector, metrics: SwitchMetrics | None = None
    ) -> None:
        self.cfg = cfg
        self.connector = connector
        self._metrics = metrics or SwitchMetrics()
        self._limiter = trio.CapacityLimiter(cfg.max_concurrency)
        self._waiting = 0
        self.busy_refusals = 0
        self.breaker_refusals = 0
        self.breaker = CircuitBreaker(
            BreakerPolicy(
                cfg.breaker_failure_ratio,
                cfg.breaker_min_calls,
                cfg.breaker_window_s,
                cfg.breaker_open_s,
                cfg.breaker_probes,
            )
        )

    @property
    def saturated(self) -> bool:
        return self._waiting >= self.cfg.max_queue

    @property
    def unavailable(self) -> bool:
        """The breaker is open: new pays are refused before anything is held."""
        return self.breaker.refusing

    def refusal(self) -> str | None:
        """Whether a new pay or fetch is refused before it starts, and why."""
        if self.unavailable:
            return "unavailable"
        return "busy" if self.saturated else None

    def statistics(self) -> GateStatistics:
        return GateStatistics(
            self.breaker.state.value, self.breaker.opened, self.busy_refusals, self.breaker_refusals
        )

    async def fetch_bill(self, account: str, params: Mapping[str, str] | None = None) -> Bill:
        return await self._call(self.connector.fetch_bill, account, params, guarded=True)

    async def pay(self, payment: BillerPayment) -> BillerReceipt:
        return await self._call(self.connector.pay, payment, guarded=True)

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        return await self._call(self.connector.status, switch_txn_id, guarded=False)

    async def reverse(self, switch_txn_id: int) -> None:
        return await self._call(self.connector.reverse, switch_txn_id, guarded=False)

    async def report(self, day: dt.date) -> list[ReportedPayment]:
        return await self._call(self.connector.report, day, guarded=False)

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: object, guarded: bool) -> T:
        operation = fn.__name__
        if guarded and not self.breaker.allow():
            self.breaker_refusals += 1
            self._metrics.biller_calls.inc(self.cfg.id, operation, "breaker_open")
            raise BillerUnavailable(f"{self.cfg.id}: circuit open")
        if self.saturated:
            self.busy_refusals += 1
            self._metrics.biller_calls.inc(self.cfg.id, operation, "busy")
            raise BillerBusy(f"{self.cfg.id}: {self._waiting} calls already waiting")
        self._waiting += 1
        try:
            await take(self._limiter)
        finally:
            self._waiting -= 1
        try:
            with self._metrics.biller_call(self.cfg.id, operation) as call:
                try:
                    result = await fn(*args)
                except Exception as exc:
                    call.outcome = _outcome(exc)
                    raise
                call.outcome = "ok"
        except Exception as exc:
            # An answer, even "no", is health; no answer is not. (A cancelled call,
            # a BaseException, says nothing either way.)
            self.breaker.record(failed=isinstance(exc, BillerUnavailable | OutcomeUnknown))
            raise
        finally:
            self._limiter.release()
        self.breaker.record(failed=False)
        return result

    async def aclose(self) -> None:
        await self.connector.aclose()


def make_connector(cfg: BillerConfig) -> Connector:
    if cfg.connector == "stub":
        return StubConnector(cfg.id)
    return HttpConnector(
        cfg.id, cfg.endpoint, timeout_s=cfg.timeout_s, max_concurrency=cfg.max_concurrency
    )


def _outcome(exc: Exception) -> str:
    if isinstance(exc, BillerRejected | UnknownConsumer):
        return "rejected"  # a definite answer: the biller refused it
    if isinstance(exc, BillerUnavailable):
        return "unavailable"
    return "unknown"  # OutcomeUnknown, or a bug: it may have been applied


async def open_billers(
    configs: tuple[BillerConfig, ...], ledger: Ledger, metrics: SwitchMetrics | None = None
) -> dict[str, Biller]:
    """An actor per configured biller, each with its payable and receivable accounts."""
    billers = {}
    for cfg in configs:
        account = await ledger.open_account(AccountKind.BILLER, f"biller:{cfg.id}", cfg.name)
        # What the biller owes back (refunds from reconciliation): docs/settlement.md.
        await ledger.open_account(AccountKind.RECEIVABLE, f"receivable:{cfg.id}", cfg.name)
        actor = BillerActor(cfg, make_connector(cfg), metrics)
        billers[cfg.id] = Biller(cfg.id, cfg.name, actor, account.id, gate=actor)
    return billers
