"""Driving one pay from wherever it stands to a final state, one durable step at a time.

``PayFlow`` is the interpreter of the pay's state machine (``switch/pays/machine.py``):
it loads the stored pay under the pay's lock, asks the machine for the next step,
does that one side effect (each step is a small participant, as in jPOS's
TransactionManager: a ledger call or a biller call, nothing else), tells the machine
what it heard, and records what the machine decided; a ledger step and its record
are one transaction (the machine's rule 9, ``_ledger_step``). The rules that keep
money safe (write ``sent`` before the call, ledger before the state that records it,
a pay found in ``sent`` is asked about and never sent again, ...) are the machine's,
written beside its tables. ``drive`` can be called again on any pay, after any
crash, and continues from the stored state.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import outcome
import trio

from switch.ledger import (
    AlreadyResolved,
    InsufficientFunds,
    Ledger,
    LedgerError,
    UnknownTransfer,
    pay_key,
)
from switch.ledger.requests import Request
from switch.ledger.types import TransferState
from switch.ops.logs import pay_fields
from switch.ops.take import take
from switch.pays import machine
from switch.pays.machine import Answer, Case, Decision, Do, Heard, Step
from switch.pays.states import PayState
from switch.pays.store import Pay, PayConflict, PayStore
from switch.protocols.billers.base import (
    BillerPayment,
    BillerReceipt,
    BillerRejected,
    BillerUnavailable,
    Connector,
    NotReversible,
    OutcomeUnknown,
    UnknownConsumer,
)

log = logging.getLogger("switch.pays")

MAX_STEPS = 12  # the longest path has 7 steps; the bound catches a loop
MAX_RELOADS = 4  # stale copies in a row before giving up (each reload is progress)


StepFn = Callable[["Pay", Do, "Biller", int], Awaitable[Heard]]
RequestFn = Callable[["Pay", "Biller", int], Request]


@dataclass(frozen=True)
class GateStatistics:
    """A biller gate's state, in the shape every actor's ``statistics()`` has: plain
    numbers and names, read by metrics without knowing the actor's type."""

    breaker_state: str  # closed | half_open | open
    breaker_opened: int  # times the breaker opened
    busy_refusals: int  # pays and fetches refused: too many calls already waiting
    breaker_refusals: int  # refused while the breaker was open


class BillerGate(Protocol):
    """What stands between new pays and a biller: asked before anything is recorded
    or held, so a refusal costs nothing and can apply nothing."""

    def refusal(self) -> str | None:
        """ "unavailable" (the breaker is open), "busy" (its queue is full), or None."""
        ...

    def statistics(self) -> GateStatistics: ...


@dataclass(frozen=True)
class Biller:
    id: str
    name: str
    connector: Connector
    payable_account_id: int
    gate: BillerGate | None = None  # None: always open (stub billers in tests)


class PayFlow:
    def __init__(
        self,
        store: PayStore,
        ledger: Ledger,
        hold_timeout_s: float,
        background: trio.Nursery | None = None,
        max_driving: int = 10_000,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._hold_timeout_s = hold_timeout_s
        self._background = background
        self._driving_limit = trio.CapacityLimiter(max_driving)
        # One driver per pay in this process: a second request for the same pay (a
        # retry that arrived while the first was in flight) waits, then reads the
        # outcome. Two drivers could otherwise inquire while the other is sending.
        self._driving: dict[int, trio.Lock] = {}
        self._steps: dict[Step, StepFn] = {
            Step.MARK_SENT: self._mark_sent,
            Step.SEND: self._send,
            Step.INQUIRE: self._inquire,
            Step.CHECK_HOLD: self._check_hold,
            Step.FIND_TXN: self._find_txn,
            Step.REVERSE: self._reverse,
            Step.RELEASE: self._release,
        }
        # The ledger steps (rule 9): the request, and what each refusal answers.
        self._ledger_steps: dict[Step, tuple[RequestFn, dict[type[LedgerError], Answer]]] = {
            Step.HOLD: (self._hold_request, {InsufficientFunds: Answer.NO_FUNDS}),
            Step.POST: (self._post_request, {AlreadyResolved: Answer.HOLD_GONE}),
            Step.VOID: (self._void_request, {}),
        }

    async def drive_detached(
        self,
        pay: Pay,
        biller: Biller,
        wallet_account_id: int,
        answer_within_s: float = 30.0,
        *,
        fresh: bool = False,
    ) -> Pay:
        """``drive`` in the switch's own nursery, and wait for it at most
        ``answer_within_s``; past that, return ``pay`` as it was (not final: the caller
        answers "pending") while the drive goes on.

        The pay goes on if the caller goes away (the terminal disconnected or timed
        out): its progress must never depend on who is waiting for the answer. At most
        ``max_driving`` pays are driven at once; beyond that the caller waits. An error
        of a drive that outlived its caller is logged here (nobody else will see it);
        one the caller waited for is raised to it.
        """
        if self._background is None:
            return await self.drive(pay, biller, wallet_account_id, fresh=fresh)
        done = trio.Event()
        result: list[outcome.Outcome[Pay]] = []
        waiting = [True]

        async def run() -> None:
            await take(self._driving_limit)
            try:
                result.append(
                    outcome.Value(await self.drive(pay, biller, wallet_account_id, fresh=fresh))
                )
            except Exception as exc:  # Cancelled and the like go on up
                result.append(outcome.Error(exc))
                if not waiting[0]:
                    log.error("driving the pay failed", exc_info=exc, extra=pay_fields(pay))
            finally:
                self._driving_limit.release()
            done.set()

        self._background.start_soon(run)
        with trio.move_on_after(answer_within_s):
            await done.wait()
        waiting[0] = False
        return result[0].unwrap() if result else pay

    async def drive(
        self, pay: Pay, biller: Biller, wallet_account_id: int, *, fresh: bool = False
    ) -> Pay:
        """Advance ``pay`` until it is final or waiting on the biller (unknown).

        Every decision is taken from the stored state under this pay's lock: the
        caller's copy is used as it is only when ``fresh`` (the caller has just created
        the pay) and nobody drove it before us; otherwise it is read again first.
        """
        async with self._sole_driver(pay.id) as waited:
            if waited or not fresh:
                pay = await self._reload(pay)
            for _ in range(MAX_RELOADS):
                try:
                    return await self._drive(pay, biller, wallet_account_id)
                except PayConflict:
                    # Our copy was stale (another driver, here or in another
                    # process, moved it first): the stored state is the truth.
                    pay = await self._reload(pay)
            raise PayConflict(f"pay {pay.id} kept moving under us")

    async def _reload(self, pay: Pay) -> Pay:
        stored = await self._store.get(pay.id)
        assert stored is not None, f"pay {pay.id} vanished"
        return stored

    @asynccontextmanager
    async def _sole_driver(self, pay_id: int) -> AsyncIterator[bool]:
        """Hold this pay's lock in this process (callers queue behind it); yields
        whether another driver held it first (then any copy of the pay is stale)."""
        lock = self._driving.setdefault(pay_id, trio.Lock())
        waited = lock.locked()
        try:
            await take(lock)
            try:
                yield waited
            finally:
                lock.release()
        finally:
            if not lock.locked():  # nobody holds it and nobody was handed it
                self._driving.pop(pay_id, None)

    async def _drive(
        self, pay: Pay, biller: Biller, wallet_account_id: int, first: Do | None = None
    ) -> Pay:
        """The interpreter: ask the machine, do the one step, record what it decided."""
        do = first
        for _ in range(MAX_STEPS):
            do = do or machine.next_step(pay.state, pay.error_code)
            if do is None:
                return pay  # final
            if do.step in machine.LEDGER_STEPS:
                pay, decision = await self._ledger_step(pay, do, biller, wallet_account_id)
            else:
                heard = await self._steps[do.step](pay, do, biller, wallet_account_id)
                decision = machine.decide(pay.state, do, heard)
                pay = await self._record(pay, decision)
            if decision.stop:
                return pay
            do = decision.then
        raise AssertionError(f"pay {pay.id} did not settle in {MAX_STEPS} steps")

    async def _ledger_step(
        self, pay: Pay, do: Do, biller: Biller, wallet_account_id: int
    ) -> tuple[Pay, Decision]:
        """Rule 9: the ledger request and the record its "done" decides, in one
        transaction; a refusal is decided as its answer (nothing was written)."""
        build, _ = self._ledger_steps[do.step]
        done = machine.recorded_with(pay.state, do)
        try:
            return await self._record(pay, done, build(pay, biller, wallet_account_id)), done
        except LedgerError as exc:
            heard = self._refused(do, exc)
        decision = machine.decide(pay.state, do, heard)
        return await self._record(pay, decision), decision

    def _refused(self, do: Do, exc: LedgerError) -> Heard:
        """The answer a ledger step's refusal is; one the step does not expect is raised."""
        _, refusals = self._ledger_steps[do.step]
        answer = next((a for kind, a in refusals.items() if isinstance(exc, kind)), None)
        if answer is None:
            raise exc
        return Heard(answer)

    async def _record(self, pay: Pay, decision: Decision, ledger: Request | None = None) -> Pay:
        if decision.case is not None:
            await self._open_case(pay, decision)
        if decision.record is None:
            return pay
        if decision.record is PayState.REVERSING:
            log.warning("reversing pay: %s", decision.reason, extra=pay_fields(pay))
        return await self._store.move(pay, decision.record, ledger=ledger, **_fields(decision))

    async def _open_case(self, pay: Pay, decision: Decision) -> None:
        if decision.case is Case.NOT_REVERSIBLE:
            log.warning("biller will not reverse: posted, case opened", extra=pay_fields(pay))
            detail = f"biller {pay.biller_id} refused to reverse txn {pay.id} ({pay.error_code})"
            action = "none: posted as the biller applied it; check what the agent was told"
        else:
            log.error("biller applied a pay whose hold was voided", extra=pay_fields(pay))
            detail = f"biller {pay.biller_id} applied txn {pay.id} after its hold was voided"
            action = "force_post: recover the amount from the agent's wallet"
        await self._store.open_case("success_after_reversal", pay, detail, action)

    # -- the steps: each does one side effect and says what it heard ----------------

    def _hold_request(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Request:
        return self._ledger.reserve_request(
            pay_key(pay.terminal_id, pay.terminal_ref),
            wallet_account_id,
            biller.payable_account_id,
            pay.amount_paise,
            timeout_s=self._hold_timeout_s,
        )

    def _post_request(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Request:
        return self._ledger.post_request(pay_key(pay.terminal_id, pay.terminal_ref))

    def _void_request(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Request:
        return self._ledger.void_request(pay_key(pay.terminal_id, pay.terminal_ref))

    async def _mark_sent(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        return Heard(Answer.DONE)  # the record is the step

    async def _send(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        payment = BillerPayment(
            pay.id, pay.consumer_account, pay.amount_paise, pay.terminal_ref, pay.consumer_params
        )
        try:
            receipt = await biller.connector.pay(payment)
        except BillerRejected as exc:
            return Heard(Answer.REFUSED, biller_code=exc.reason)
        except UnknownConsumer:
            return Heard(Answer.NO_SUCH_CONSUMER)
        except BillerUnavailable:
            return Heard(Answer.NOT_SENT)  # the request never left
        except OutcomeUnknown as exc:
            log.info("pay outcome unknown: %s", exc, extra=pay_fields(pay))
            return Heard(Answer.NO_ANSWER)
        return self._applied(pay, receipt)

    @staticmethod
    def _applied(pay: Pay, receipt: BillerReceipt) -> Heard:
        """A biller's "applied" for another account or amount is no success (rule 4)."""
        why = receipt.differs_from(pay.consumer_account, pay.amount_paise)
        if why is not None:
            log.warning("biller's answer is not for this pay: %s", why, extra=pay_fields(pay))
            return Heard(Answer.MISMATCH)
        return Heard(Answer.APPLIED, biller_txn_id=receipt.biller_txn_id)

    async def _inquire(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        try:
            receipt = await biller.connector.status(pay.id)
        except (BillerUnavailable, OutcomeUnknown):
            return Heard(Answer.NO_ANSWER)
        return Heard(Answer.NOT_FOUND) if receipt is None else self._applied(pay, receipt)

    async def _check_hold(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        state = await self._ledger.state_of(pay_key(pay.terminal_id, pay.terminal_ref))
        if state is TransferState.POSTED:
            log.warning("hold already posted: posted, not reversed", extra=pay_fields(pay))
            return Heard(Answer.HOLD_POSTED)
        return Heard(Answer.HOLD_NOT_POSTED)

    async def _find_txn(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        with contextlib.suppress(BillerUnavailable, OutcomeUnknown):
            receipt = await biller.connector.status(pay.id)
            if receipt is not None:
                return Heard(Answer.APPLIED, biller_txn_id=receipt.biller_txn_id)
        return Heard(Answer.NO_ANSWER)

    async def _reverse(self, pay: Pay, do: Do, biller: Biller, wallet: int) -> Heard:
        try:
            await biller.connector.reverse(pay.id)
        except NotReversible as exc:
            return Heard(Answer.WILL_NOT_REVERSE, biller_txn_id=exc.biller_txn_id)
        except (BillerRejected, BillerUnavailable, OutcomeUnknown):
            return Heard(Answer.NO_ANSWER)  # no acknowledgement: sent again later
        log.info("reversal acknowledged: voided", extra=pay_fields(pay))
        return Heard(Answer.ACKNOWLEDGED)

    async def _release(self, pay: Pay, do: Do, biller: Biller | None, wallet: int) -> Heard:
        # Never held, or the hold was declined (insufficient funds): nothing to void.
        with contextlib.suppress(UnknownTransfer, AlreadyResolved):
            await self._ledger.void(pay_key(pay.terminal_id, pay.terminal_ref))
        return Heard(Answer.DONE)

    async def reverse_at_deadline(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Pay:
        """Recovery's decision for a pay still unknown at its deadline: reverse it.

        Taken under this pay's lock and from the stored state, never from recovery's
        copy: a driver that was still waiting on the biller (an inquiry in flight)
        finishes first, and if the biller said "applied" the pay is posted, not
        reversed. Deciding outside the lock once let a pay be posted in the ledger
        by the inquiry and then reversed at the biller (found by the chaos run)."""
        async with self._sole_driver(pay.id):
            stored = await self._reload(pay)
            first = machine.at_deadline(stored.state)
            return await self._drive(stored, biller, wallet_account_id, first)

    async def expire(self, pay: Pay) -> Pay:
        """Cancel a pay that never reached the biller (received or reserved), and give
        its hold back if it was taken (the machine's rule 5).

        Decided under this pay's lock from the stored state: a driver may have held
        the lock while recovery waited for it (a ledger that stalled past
        ``recovery_idle_s``) and sent the pay on; then it is no longer ours to cancel
        and the stored pay is returned for recovery to drive. A hold that reaches the
        ledger after this is given back by recovery's orphan sweep.
        """
        async with self._sole_driver(pay.id):
            stored = await self._reload(pay)
            decision = machine.expire(stored.state)
            if decision is None:
                return stored
            voided = await self._record(stored, decision)
            assert decision.then is not None
            heard = await self._release(voided, decision.then, None, 0)
            machine.decide(voided.state, decision.then, heard)
            return voided


def _fields(decision: Decision) -> dict[str, str]:
    """What a decision records beside the state (only what it sets)."""
    fields = {
        "error_code": decision.reason.value if decision.reason else None,
        "biller_code": decision.biller_code,
        "biller_txn_id": decision.biller_txn_id,
    }
    return {k: v for k, v in fields.items() if v is not None}
