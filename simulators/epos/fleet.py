"""A fleet of e-POS terminals in one trio process: the load generator for the switch.

Each terminal loops: pick a consumer, fetch the bill, pay it with a fresh reference.
If a pay gets no answer (timeout, lost connection, ``busy``), the terminal reconnects
and asks again with the *same* reference, as a real terminal must; a ``pending``
answer is followed by ``status`` requests until the pay is final or the terminal
gives up (counted as pending). Every success's receipt is kept.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from simulators.epos.connection import ConnectionLost, EposConnection, RequestTimeout, connect
from switch.provisioning.credentials import Credentials

MAX_PAY_ATTEMPTS = 5
MAX_STATUS_POLLS = 10
BACK_OFF_CODES = frozenset({"busy", "unavailable", "rate_limited", "too_many_in_flight"})
BACK_OFF_S = 0.1


@dataclass
class FleetStats:
    fetches: int = 0
    fetch_errors: int = 0
    nothing_due: int = 0
    pays_ok: int = 0
    pays_failed: int = 0
    pays_pending: int = 0
    retries: int = 0
    reconnects: int = 0
    pay_latencies_s: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # pays: code -> count
    fetch_failures: dict[str, int] = field(default_factory=dict)  # fetches: code -> count
    receipts: list[dict[str, Any]] = field(default_factory=list)  # every terminal's

    def percentile_ms(self, q: float) -> float:
        lat = sorted(self.pay_latencies_s)
        if not lat:
            return 0.0
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)


@dataclass
class Consumer:
    biller: str
    account: str


AmountPolicy = Callable[[dict[str, Any]], int | None]


def pay_in_full(bill: dict[str, Any]) -> int | None:
    """The whole amount due; nothing if nothing is due."""
    due = bill["amount_paise"]
    return due if due > 0 else None


def pay_part(rng: random.Random) -> AmountPolicy:
    """Part of the bill, as many consumers do: at most the due, at least ₹1."""

    def policy(bill: dict[str, Any]) -> int | None:
        due = bill["amount_paise"]
        return min(due, rng.randint(1, 30) * 50_00) if due >= 100 else None

    return policy


class Terminal:
    """One simulated terminal: its credentials, its receipts, its next reference."""

    def __init__(
        self, creds: Credentials, request_timeout_s: float, amount: AmountPolicy | None = None
    ) -> None:
        self.creds = creds
        self.amount = amount or pay_in_full
        self.request_timeout_s = request_timeout_s
        self.receipts: list[dict[str, Any]] = []
        self._refs = itertools.count(1)
        self._run_tag = f"{time.time_ns() // 1_000_000 % 10**10:x}"
        # A pay whose answer never came: after reconnecting, ask again with its ref.
        self.unanswered: tuple[Consumer, int, str, float] | None = None

    def next_ref(self) -> str:
        return f"{self._run_tag}-{next(self._refs)}"

    async def run(
        self,
        consumers: Callable[[], Consumer],
        stats: FleetStats,
        stop_at: float,
        pause_s: float = 0.0,
    ) -> None:
        while trio.current_time() < stop_at:
            try:
                async with connect(self.creds, request_timeout_s=self.request_timeout_s) as conn:
                    if self.unanswered is not None:
                        who, amount, ref, started = self.unanswered
                        stats.retries += 1
                        self.finish(await self.pay(conn, who, amount, ref, stats), started, stats)
                    while trio.current_time() < stop_at:
                        await self.fetch_and_pay(conn, consumers(), stats)
                        if pause_s:
                            await trio.sleep(pause_s)
            except (
                ConnectionLost,
                RequestTimeout,
                OSError,
                trio.TooSlowError,
                trio.BrokenResourceError,
            ):
                stats.reconnects += 1
                await trio.sleep(0.2)

    async def fetch_and_pay(self, conn: EposConnection, who: Consumer, stats: FleetStats) -> None:
        bill = await conn.request("fetch_bill", biller=who.biller, account=who.account)
        stats.fetches += 1
        if bill["type"] != "bill":
            stats.fetch_errors += 1
            code = str(bill.get("code", "?"))
            stats.fetch_failures[code] = stats.fetch_failures.get(code, 0) + 1
            if bill.get("code") in BACK_OFF_CODES:
                await trio.sleep(BACK_OFF_S)
            return
        amount = self.amount(bill)
        if amount is None:
            stats.nothing_due += 1
            return
        started = time.perf_counter()
        ref = self.next_ref()
        self.unanswered = (who, amount, ref, started)
        self.finish(
            await self.pay(conn, who, amount, ref, stats, bill.get("mobile"), bill.get("bill_ref")),
            started,
            stats,
        )

    def finish(self, result: dict[str, Any], started: float, stats: FleetStats) -> None:
        self.unanswered = None
        stats.pay_latencies_s.append(time.perf_counter() - started)
        self.tally(result, stats)

    async def pay(
        self,
        conn: EposConnection,
        who: Consumer,
        amount: int,
        ref: str,
        stats: FleetStats,
        mobile: str | None = None,
        bill_ref: str | None = None,
    ) -> dict[str, Any]:
        """Pay (the fetched bill, by its reference), asking again with the same ref
        until the answer is final (bounded)."""
        fields = {"ref": ref, "biller": who.biller, "account": who.account, "amount_paise": amount}
        if mobile:
            fields["mobile"] = mobile
        if bill_ref:
            fields["bill_ref"] = bill_ref
        result = await conn.request("pay", **fields)
        for _ in range(MAX_PAY_ATTEMPTS):
            if result.get("code") in BACK_OFF_CODES:
                stats.retries += 1
                await trio.sleep(BACK_OFF_S)
                result = await conn.request("pay", **fields)
            elif result.get("status") == "pending":
                for _ in range(MAX_STATUS_POLLS):
                    await trio.sleep(0.2)
                    result = await conn.request("status", ref=ref)
                    if result.get("status") != "pending":
                        break
                return result
            else:
                return result
        return result

    def tally(self, result: dict[str, Any], stats: FleetStats) -> None:
        status = result.get("status")
        if status == "success":
            stats.pays_ok += 1
            self.receipts.append(result["receipt"])
            stats.receipts.append(result["receipt"])
        elif status == "pending":
            stats.pays_pending += 1
        else:
            stats.pays_failed += 1
            code = result.get("code", "?")
            stats.failures[code] = stats.failures.get(code, 0) + 1


async def run_fleet(
    creds: Sequence[Credentials],
    consumers: Sequence[Consumer],
    duration_s: float,
    *,
    seed: int = 1,
    request_timeout_s: float = 10.0,
    pause_s: float = 0.0,
    stats: FleetStats | None = None,
    amount: AmountPolicy | None = None,
) -> tuple[FleetStats, list[Terminal]]:
    """Run every terminal for ``duration_s``; return the stats and the terminals."""
    stats = stats or FleetStats()
    rng = random.Random(seed)
    terminals = [Terminal(c, request_timeout_s, amount) for c in creds]
    stop_at = trio.current_time() + duration_s

    def pick() -> Consumer:
        return rng.choice(consumers)

    async with trio.open_nursery() as nursery:
        for t in terminals:
            nursery.start_soon(t.run, pick, stats, stop_at, pause_s)
    return stats, terminals
