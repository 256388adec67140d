"""In-process stand-ins for the pay core's outside world, for the deterministic
simulation: the ledger, the pay records, a biller and the network between them.

Each keeps *durable* state (what survives a crash of a switch process) in plain
dicts. Every call crosses the ``Network``: the request travels (a delay), its effect
is applied to the durable state, the reply travels back (another delay). A switch
process that crashes meanwhile loses the reply, never the effect once applied; a
request already on its way still lands. Delays, lost replies, refusals and stalls are
drawn from one seeded random source, so a seed is a whole run, reproducibly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import trio

from switch.ledger import AlreadyResolved, InsufficientFunds, UnknownTransfer, pay_key
from switch.ledger.requests import Op, Request
from switch.ledger.types import TransferState
from switch.pays.states import PayState, check_transition
from switch.pays.store import Pay, PayConflict
from switch.protocols.billers.base import (
    BillerPayment,
    BillerReceipt,
    BillerRejected,
    BillerUnavailable,
    NotReversible,
    OutcomeUnknown,
)

T = TypeVar("T")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    """Virtual seconds as the timestamps the pay records carry."""
    return EPOCH + dt.timedelta(seconds=seconds)


class Network:
    """Carries calls with seeded delays; checks the world's invariants after every
    effect (``after_effect``)."""

    def __init__(self, rng: random.Random, nursery: trio.Nursery, stall_s: float) -> None:
        self.rng = rng
        self._nursery = nursery
        self._stall_s = stall_s
        self.after_effect: Callable[[], None] = lambda: None
        self.effects = 0
        self.in_flight = 0  # calls whose effect has not landed yet

    def delay_s(self) -> float:
        roll = self.rng.random()
        if roll < 0.03:  # a stall longer than recovery's idle time
            return self._stall_s * (1 + self.rng.random())
        return self.rng.expovariate(1 / 0.02) + self.rng.random() * 1e-6

    async def call(self, effect: Callable[[], T]) -> T:
        """Send ``effect``; it is applied when it arrives, whatever the caller does
        meanwhile; the caller gets its result (or its error) when the reply arrives."""
        done = trio.Event()
        box: list[Any] = []

        async def carry() -> None:
            await trio.sleep(self.delay_s())
            try:
                box.append((True, effect()))
            except Exception as exc:
                box.append((False, exc))
            self.effects += 1
            self.in_flight -= 1
            self.after_effect()
            await trio.sleep(self.delay_s())
            done.set()

        self.in_flight += 1
        self._nursery.start_soon(carry)
        await done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


@dataclass
class Transfer:
    wallet: int
    payable: int
    amount_paise: int
    state: TransferState
    expired: bool = False  # voided by the ledger's own safety-net deadline


class FakeLedger:
    """Holds, posts and voids, idempotent by key, as the real ledger's API."""

    def __init__(self, net: Network, balances: dict[int, int]) -> None:
        self._net = net
        self.balances = dict(balances)  # account -> paise
        self.transfers: dict[str, Transfer] = {}
        self.total_paise = sum(balances.values())

    def held_paise(self) -> int:
        return sum(
            t.amount_paise for t in self.transfers.values() if t.state is TransferState.PENDING
        )

    async def reserve(
        self, key: str, wallet: int, payable: int, amount_paise: int, timeout_s: float
    ) -> None:
        await self._net.call(lambda: self._reserve(key, wallet, payable, amount_paise))

    def _reserve(self, key: str, wallet: int, payable: int, amount_paise: int) -> None:
        if key in self.transfers:
            return
        if self.balances[wallet] < amount_paise:
            raise InsufficientFunds(key)
        self.balances[wallet] -= amount_paise
        self.transfers[key] = Transfer(wallet, payable, amount_paise, TransferState.PENDING)

    # The requests a pay's move carries (rule 9), applied with the move.
    def reserve_request(
        self, key: str, wallet: int, payable: int, amount_paise: int, timeout_s: float
    ) -> Request:
        return Request(Op.RESERVE, key, wallet, payable, amount_paise, int(timeout_s * 1000))

    def post_request(self, key: str) -> Request:
        return Request(Op.POST, key, 0, 0, 0, 0)

    def void_request(self, key: str) -> Request:
        return Request(Op.VOID, key, 0, 0, 0, 0)

    def apply(self, req: Request) -> None:
        """One request, at once (inside the caller's effect): refusals raise."""
        if req.op is Op.RESERVE:
            self._reserve(req.key, req.debit, req.credit, req.amount)
        else:
            to = TransferState.POSTED if req.op is Op.POST else TransferState.VOIDED
            self._resolve(req.key, to)

    async def post(self, key: str) -> None:
        await self._net.call(lambda: self._resolve(key, TransferState.POSTED))

    async def void(self, key: str) -> None:
        await self._net.call(lambda: self._resolve(key, TransferState.VOIDED))

    def _resolve(self, key: str, to: TransferState) -> None:
        t = self.transfers.get(key)
        if t is None:
            raise UnknownTransfer(key)
        if t.state is to:
            return
        if t.state is not TransferState.PENDING:
            raise AlreadyResolved(key)
        t.state = to
        self.balances[t.payable if to is TransferState.POSTED else t.wallet] += t.amount_paise

    async def state_of(self, key: str) -> TransferState | None:
        return await self._net.call(
            lambda: self.transfers[key].state if key in self.transfers else None
        )


@dataclass
class Record:
    """A pay as stored, with what the checks need to know about its history."""

    pay: Pay
    wallet_account_id: int
    finals: int = 0
    attempts: int = 0


class FakePays:
    """The pay records: guarded moves (from the state the caller saw), leases."""

    def __init__(self, net: Network, now: Callable[[], dt.datetime]) -> None:
        self._net = net
        self._now = now
        self.records: dict[int, Record] = {}
        self.cases: dict[tuple[str, int], str] = {}
        self.moves: list[tuple[int, PayState, PayState]] = []
        self.ledger: FakeLedger | None = None

    def create(self, pay: Pay, wallet_account_id: int) -> None:
        self.records[pay.id] = Record(pay, wallet_account_id)

    def view(self, process_id: str) -> PaysView:
        return PaysView(self, process_id)

    def _move(self, pay: Pay, new: PayState, fields: dict[str, Any]) -> Pay:
        record = self.records[pay.id]
        stored = record.pay
        if stored.state is not pay.state:
            raise PayConflict(f"pay {pay.id} is no longer {pay.state}")
        check_transition(stored.state, new)
        kept = {k: v for k, v in fields.items() if v is not None}
        record.pay = replace(stored, state=new, updated_at=self._now(), **kept)
        self.moves.append((pay.id, stored.state, new))
        if new.final:
            record.finals += 1
        return record.pay


@dataclass
class PaysView:
    """One switch process's ``PayStore``: the same records, its own process id."""

    pays: FakePays
    process_id: str
    on_final: Callable[[Pay], None] | None = field(default=None)

    async def get(self, pay_id: int) -> Pay | None:
        return await self.pays._net.call(lambda: self.pays.records[pay_id].pay)

    async def move(
        self, pay: Pay, new: PayState, *, ledger: Request | None = None, **fields: Any
    ) -> Pay:
        """As the real store: the ledger request first, then the guarded move, in one
        effect (one transaction); a refusal moves nothing, a failed guard keeps the
        ledger's effect."""
        pays = self.pays

        def effect() -> Pay:
            if ledger is not None:
                assert pays.ledger is not None
                pays.ledger.apply(ledger)
            return pays._move(pay, new, fields)

        return await pays._net.call(effect)

    async def open_case(self, kind: str, pay: Pay, detail: str, action: str) -> None:
        def effect() -> None:
            self.pays.cases.setdefault((kind, pay.id), detail)

        await self.pays._net.call(effect)

    async def lease_stale(
        self, limit: int, backoff_base_s: float, backoff_max_s: float, idle_s: float
    ) -> list[tuple[Pay, int]]:
        pays = self.pays

        def effect() -> list[tuple[Pay, int]]:
            now = pays._now()
            out = []
            for r in pays.records.values():
                p = r.pay
                idle = (now - p.updated_at).total_seconds() > idle_s
                free = p.lease_until is None or p.lease_until < now
                if p.state.final or not idle or not free or len(out) >= limit:
                    continue
                backoff = min(backoff_base_s * 2**r.attempts, backoff_max_s)
                r.attempts += 1
                r.pay = replace(
                    p, lease_owner=self.process_id, lease_until=now + dt.timedelta(seconds=backoff)
                )
                out.append((r.pay, r.wallet_account_id))
            return out

        return await pays._net.call(effect)

    async def final_pays_with_pending_holds(
        self, limit: int, idle_s: float
    ) -> list[tuple[str, str, PayState]]:
        pays, ledger = self.pays, self.pays.ledger
        assert ledger is not None

        def effect() -> list[tuple[str, str, PayState]]:
            out = []
            for r in pays.records.values():
                p = r.pay
                t = ledger.transfers.get(pay_key(p.terminal_id, p.terminal_ref))
                if p.state.final and t is not None and t.state is TransferState.PENDING:
                    out.append((p.terminal_id, p.terminal_ref, p.state))
            return out[:limit]

        return await pays._net.call(effect)


@dataclass
class FakeBiller:
    """A biller's books and its behaviour, chosen per call by the seed: applies, loses
    the reply, refuses, is unreachable, receives a pay late (after its status said "not
    found"), or will not reverse. A payment it has reversed is refused if it arrives
    later (what a real biller does with a reversed txn id)."""

    net: Network
    rng: random.Random
    applied: dict[int, BillerReceipt] = field(default_factory=dict)
    reversed: set[int] = field(default_factory=set)
    keeps: dict[int, bool] = field(default_factory=dict)  # txn -> will not reverse it
    faults: bool = True
    unavailable = False  # the switch's gate asks (a breaker's state): never here
    saturated = False

    def _roll(self) -> float:
        return self.rng.random() if self.faults else 1.0

    async def pay(self, payment: BillerPayment) -> BillerReceipt:
        roll = self._roll()
        if roll < 0.05:
            raise BillerUnavailable("never left")
        if roll < 0.10:
            raise BillerRejected("account_disconnected")

        def apply() -> BillerReceipt:
            if payment.switch_txn_id in self.reversed:
                raise BillerRejected("reversed_txn")
            return self.applied.setdefault(
                payment.switch_txn_id,
                BillerReceipt(f"B{payment.switch_txn_id}", payment.account, payment.amount_paise),
            )

        if roll < 0.20:  # on its way, but the caller hears nothing
            self.net.in_flight += 1
            self.net._nursery.start_soon(self._late, apply)
            raise OutcomeUnknown("no reply")
        receipt = await self.net.call(apply)
        if roll < 0.30:
            raise OutcomeUnknown("reply lost")
        return receipt

    async def _late(self, apply: Callable[[], BillerReceipt]) -> None:
        await trio.sleep(self.net.delay_s() * 50)
        self.net.in_flight -= 1
        with contextlib.suppress(BillerRejected):  # it arrived after its reversal
            await self.net.call(apply)

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        if self._roll() < 0.15:
            raise BillerUnavailable("status: no answer")
        return await self.net.call(lambda: self.applied.get(switch_txn_id))

    async def reverse(self, switch_txn_id: int) -> None:
        roll = self._roll()
        if roll < 0.15:
            raise OutcomeUnknown("reversal: no answer")

        def undo() -> None:
            receipt = self.applied.get(switch_txn_id)
            # Whether the biller will undo an applied payment is its rule for that
            # payment, the same every time it is asked.
            keep = self.keeps.setdefault(switch_txn_id, roll < 0.25)
            if receipt is not None and keep:
                raise NotReversible(receipt.biller_txn_id)
            self.applied.pop(switch_txn_id, None)
            self.reversed.add(switch_txn_id)

        await self.net.call(undo)
