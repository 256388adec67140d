"""Driving one pay from wherever it stands to a final state, one durable step at a time.

Each step is a small participant (as in jPOS's TransactionManager): it does one side
effect and records the resulting state. ``sent`` is written *before* the biller is
called; ledger effects come *before* the state that records them, and are idempotent,
so ``drive`` can be called again on any pay, after any crash, and continues:

    received --hold in the ledger-->                     sent | voided (insufficient funds)
    sent     --call the biller (fresh) or ask its status (resumed)-->
             applied: post in the ledger, then           posted
             refused: void in the ledger, then           voided
             no answer:                                  unknown
    unknown  --ask the biller's status--> as above, or still unknown
    reserved, confirmed, rejected (explicit intermediate moments, never written on the
    happy path) go on to sent, posted and voided.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import outcome
import trio

from switch.ledger import AlreadyResolved, InsufficientFunds, Ledger, UnknownTransfer, pay_key
from switch.ledger.types import TransferState
from switch.ops.logs import pay_fields
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

MAX_STEPS = 8  # the longest path has 5 steps; the bound catches a loop
MAX_RELOADS = 4  # stale copies in a row before giving up (each reload is progress)


@dataclass(frozen=True)
class Biller:
    id: str
    name: str
    connector: Connector
    payable_account_id: int


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
            async with self._driving_limit:
                try:
                    result.append(
                        outcome.Value(await self.drive(pay, biller, wallet_account_id, fresh=fresh))
                    )
                except Exception as exc:  # Cancelled and the like go on up
                    result.append(outcome.Error(exc))
                    if not waiting[0]:
                        log.error("driving the pay failed", exc_info=exc, extra=pay_fields(pay))
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
            async with lock:
                yield waited
        finally:
            if not lock.locked():  # nobody holds it and nobody was handed it
                self._driving.pop(pay_id, None)

    async def _drive(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Pay:
        fresh_send = False
        for _ in range(MAX_STEPS):
            state = pay.state
            if state.final:
                return pay
            if state is PayState.RECEIVED:
                pay = await self._reserve(pay, biller, wallet_account_id)
                fresh_send = pay.state is PayState.SENT
            elif state is PayState.RESERVED:
                pay = await self._store.move(pay, PayState.SENT)
                fresh_send = True
            elif state is PayState.SENT and fresh_send:
                pay = await self._send(pay, biller)
            elif state in (PayState.SENT, PayState.UNKNOWN):
                before = pay
                pay = await self._inquire(pay, biller)
                if pay is before:
                    return pay  # still unknown: the terminal hears "pending"
            elif state is PayState.REVERSING:
                before = pay
                pay = await self._reverse(pay, biller)
                if pay is before:
                    return pay  # the reversal goes again later (store-and-forward)
            elif state is PayState.CONFIRMED:
                pay = await self._post(pay, pay.biller_txn_id)
            elif state is PayState.REJECTED:
                pay = await self._void(pay, pay.error_code or "biller_rejected")
        raise AssertionError(f"pay {pay.id} did not settle in {MAX_STEPS} steps")

    async def _reserve(self, pay: Pay, biller: Biller, wallet_account_id: int) -> Pay:
        try:
            await self._ledger.reserve(
                pay_key(pay.terminal_id, pay.terminal_ref),
                wallet_account_id,
                biller.payable_account_id,
                pay.amount_paise,
                timeout_s=self._hold_timeout_s,
            )
        except InsufficientFunds:
            return await self._store.move(pay, PayState.VOIDED, error_code="insufficient_funds")
        return await self._store.move(pay, PayState.SENT)  # the intent, before the call

    async def _send(self, pay: Pay, biller: Biller) -> Pay:
        payment = BillerPayment(pay.id, pay.consumer_account, pay.amount_paise, pay.terminal_ref)
        try:
            receipt = await biller.connector.pay(payment)
        except BillerRejected as exc:
            return await self._void(pay, exc.reason)
        except UnknownConsumer:
            return await self._void(pay, "unknown_consumer")
        except BillerUnavailable:
            # The request never left: nothing can have been applied.
            return await self._void(pay, "biller_unavailable")
        except OutcomeUnknown as exc:
            log.info("pay outcome unknown: %s", exc, extra=pay_fields(pay))
            return await self._store.move(pay, PayState.UNKNOWN)
        if not self._receipt_is_for(pay, receipt):
            return await self._store.move(pay, PayState.UNKNOWN)  # ask its status
        return await self._post(pay, receipt.biller_txn_id)

    @staticmethod
    def _receipt_is_for(pay: Pay, receipt: BillerReceipt) -> bool:
        """A biller's "applied" for another account or amount is no success: the pay's
        outcome is unknown until its status says otherwise, and reversed at its
        deadline if it never does (never posted as it stands)."""
        why = receipt.differs_from(pay.consumer_account, pay.amount_paise)
        if why is not None:
            log.warning("biller's answer is not for this pay: %s", why, extra=pay_fields(pay))
        return why is None

    async def _inquire(self, pay: Pay, biller: Biller) -> Pay:
        try:
            receipt = await biller.connector.status(pay.id)
        except (BillerUnavailable, OutcomeUnknown):
            return await self._still_unknown(pay)
        if receipt is not None:
            if not self._receipt_is_for(pay, receipt):
                return await self._still_unknown(pay)
            return await self._post(pay, receipt.biller_txn_id)
        # "Not found" now does not mean "never": it may still be on its way. Reverse
        # it (the biller then refuses it if it arrives) before giving the money back.
        return await self.start_reversal(pay, "not_applied_at_biller", biller)

    async def _still_unknown(self, pay: Pay) -> Pay:
        if pay.state is PayState.SENT:
            return await self._store.move(pay, PayState.UNKNOWN)
        return pay

    async def reverse_at_deadline(self, pay: Pay, biller: Biller) -> Pay:
        """Recovery's decision for a pay still unknown at its deadline: reverse it.

        Taken under this pay's lock and from the stored state, never from recovery's
        copy: a driver that was still waiting on the biller (an inquiry in flight)
        finishes first, and if the biller said "applied" the pay is posted, not
        reversed. Deciding outside the lock once let a pay be posted in the ledger
        by the inquiry and then reversed at the biller (found by the chaos run)."""
        async with self._sole_driver(pay.id):
            stored = await self._store.get(pay.id)
            assert stored is not None
            if stored.state is not PayState.UNKNOWN:
                return stored
            return await self.start_reversal(stored, "unknown_at_deadline", biller)

    async def start_reversal(self, pay: Pay, reason: str, biller: Biller) -> Pay:
        """Record the decision to reverse (durable before the first reversal is sent)."""
        if await self._hold_posted(pay):
            return await self._posted_before_a_crash(pay, biller)
        log.warning("reversing pay: %s", reason, extra=pay_fields(pay))
        return await self._store.move(pay, PayState.REVERSING, error_code=reason)

    async def _hold_posted(self, pay: Pay) -> bool:
        key = pay_key(pay.terminal_id, pay.terminal_ref)
        return await self._ledger.state_of(key) is TransferState.POSTED

    async def _posted_before_a_crash(self, pay: Pay, biller: Biller) -> Pay:
        """The ledger already posted this pay's hold: a driver had the biller's receipt
        and posted it, then its process died before recording the pay as posted. The
        biller applied it; so is the pay, and no reversal may ever be sent for it (one
        undid a payment at the biller in a chaos run, the agent's money stuck in the
        payable). Its biller txn id went with the process: asked for again; if the
        biller cannot say now, reconciliation matches the pay by switch txn id."""
        log.warning("hold already posted: the pay is posted, not reversed", extra=pay_fields(pay))
        receipt = None
        with contextlib.suppress(BillerUnavailable, OutcomeUnknown):
            receipt = await biller.connector.status(pay.id)
        txn = receipt.biller_txn_id if receipt is not None else None
        return await self._store.move(pay, PayState.POSTED, biller_txn_id=txn)

    async def _reverse(self, pay: Pay, biller: Biller) -> Pay:
        if await self._hold_posted(pay):  # decided before its posting was known
            return await self._posted_before_a_crash(pay, biller)
        try:
            await biller.connector.reverse(pay.id)
        except NotReversible as exc:
            # Applied and the biller will not undo it: the money is at the biller, so
            # the pay is posted; a person looks at why it had to be reversed.
            log.warning("biller will not reverse: posted, case opened", extra=pay_fields(pay))
            await self._store.open_case(
                "success_after_reversal",
                pay,
                f"biller {pay.biller_id} refused to reverse txn {pay.id} ({pay.error_code})",
                "none: posted as the biller applied it; check what the agent was told",
            )
            return await self._post(pay, exc.biller_txn_id)  # None: the biller did not say
        except (BillerRejected, BillerUnavailable, OutcomeUnknown):
            return pay  # no acknowledgement: the reversal goes again later
        log.info("reversal acknowledged: voided", extra=pay_fields(pay))
        return await self._void(pay, pay.error_code or "reversed")

    async def expire(self, pay: Pay) -> Pay:
        """Cancel a pay that never reached the biller (received or reserved), and give
        its hold back if it was taken.

        Decided under this pay's lock from the stored state: a driver may have held
        the lock while recovery waited for it (a ledger that stalled past
        ``recovery_idle_s``) and sent the pay on; then it is no longer ours to cancel
        and the stored pay is returned for recovery to drive. The pay is recorded as
        voided *before* its hold is voided: a driver in another process that still
        holds an older copy can then no longer move it to ``sent`` (its guarded move
        fails), so nothing is sent for a pay whose money went back. A hold that
        reaches the ledger after this is given back by recovery's orphan sweep.
        """
        async with self._sole_driver(pay.id):
            stored = await self._reload(pay)
            if stored.state not in (PayState.RECEIVED, PayState.RESERVED):
                return stored
            voided = await self._store.move(stored, PayState.VOIDED, error_code="expired")
            # Never held, or the hold was declined (insufficient funds): nothing to void.
            with contextlib.suppress(UnknownTransfer, AlreadyResolved):
                await self._ledger.void(pay_key(pay.terminal_id, pay.terminal_ref))
            return voided

    async def _post(self, pay: Pay, biller_txn_id: str | None) -> Pay:
        key = pay_key(pay.terminal_id, pay.terminal_ref)
        try:
            await self._ledger.post(key)
        except AlreadyResolved:
            return await self._applied_after_void(pay, biller_txn_id)
        return await self._store.move(pay, PayState.POSTED, biller_txn_id=biller_txn_id)

    async def _applied_after_void(self, pay: Pay, biller_txn_id: str | None) -> Pay:
        """The biller applied a pay whose hold the ledger had already voided (only its
        safety-net deadline, ``hold_timeout_s``, does that to a pay still in flight):
        the agent has the money back while the biller has it too. No second movement
        is made on a guess: the pay ends voided, as its money did, and a case asks
        finance to recover the amount (force-post)."""
        log.error("biller applied a pay whose hold was voided: case opened", extra=pay_fields(pay))
        await self._store.open_case(
            "success_after_reversal",
            pay,
            f"biller {pay.biller_id} applied txn {pay.id} (biller txn {biller_txn_id}) "
            "after its hold was voided",
            "force_post: recover the amount from the agent's wallet",
        )
        return await self._store.move(pay, PayState.VOIDED, error_code="applied_after_void")

    async def _void(self, pay: Pay, error_code: str) -> Pay:
        await self._ledger.void(pay_key(pay.terminal_id, pay.terminal_ref))
        return await self._store.move(pay, PayState.VOIDED, error_code=error_code)
