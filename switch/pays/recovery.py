"""Recovery: every pay that is not final and has not moved for ``recovery_idle_s`` is
picked up again, after a crash, a terminal that went away, or a biller that did not
answer. Runs in every switch process; a lease (``FOR UPDATE SKIP LOCKED`` and
``lease_until``) gives each pay to one process at a time.

What happens to a recovered pay depends on how far it got:

- received / reserved: it never reached the biller, so it is cancelled (voided as
  ``expired``; its hold, if taken, goes back to the wallet). Always safe.
- sent / unknown: the biller may have it. Ask the biller's status; if it cannot say,
  ask again later, backing off exponentially per pay (``attempts``) up to
  ``inquiry_backoff_max_s``. Never assume. Still unknown ``unknown_deadline_s`` after
  the pay began: reverse it.
- reversing: send the reversal again (store-and-forward) until acknowledged.

And the other way round: a hold still pending in the ledger for a pay that is already
final (a reserve that reached the ledger after its pay was expired: a statement of a
killed process, a batch reported unknown that had committed) is resolved to match the
pay: voided pay, void the hold; posted pay, post it. The ledger calls are idempotent.
- confirmed / rejected: the decision is known; finish it (post or void).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio

from switch.config import PaysConfig
from switch.ledger import AlreadyResolved, Ledger, UnknownTransfer, pay_key
from switch.ops.logs import pay_fields
from switch.pays.flow import Biller, PayFlow
from switch.pays.states import PayState
from switch.pays.store import Pay, PayStore

log = logging.getLogger("switch.recovery")


@dataclass(frozen=True)
class RecoveryStatistics:
    recovered: Mapping[str, int]  # outcome (the final state, orphan_hold_*, error) -> pays


class Recovery:
    def __init__(
        self,
        store: PayStore,
        flow: PayFlow,
        ledger: Ledger,
        billers: Mapping[str, Biller],
        cfg: PaysConfig,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._now = now
        self._store = store
        self._flow = flow
        self._ledger = ledger
        self._billers = billers
        self._cfg = cfg
        self.recovered: dict[str, int] = {}  # outcome -> count

    def statistics(self) -> RecoveryStatistics:
        return RecoveryStatistics(dict(self.recovered))

    async def run(self) -> None:
        while True:
            leased = await self.sweep_once()
            if leased < self._cfg.recovery_batch:
                await trio.sleep(self._cfg.recovery_interval_s)

    async def sweep_once(self, idle_s: float | None = None) -> int:
        """Lease and drive one batch of stale pays; return how many were leased."""
        cfg = self._cfg
        idle = cfg.recovery_idle_s if idle_s is None else idle_s
        leased = await self._store.lease_stale(
            cfg.recovery_batch, cfg.inquiry_backoff_base_s, cfg.inquiry_backoff_max_s, idle
        )
        async with trio.open_nursery() as nursery:
            for pay, wallet_account_id in leased:
                nursery.start_soon(self._recover, pay, wallet_account_id)
        await self.resolve_orphan_holds(idle)
        return len(leased)

    async def resolve_orphan_holds(self, idle_s: float) -> int:
        """Bring pending holds of final pays in line with their pay (see above)."""
        orphans = await self._store.final_pays_with_pending_holds(self._cfg.recovery_batch, idle_s)
        for terminal_id, terminal_ref, state in orphans:
            key = pay_key(terminal_id, terminal_ref)
            with contextlib.suppress(AlreadyResolved, UnknownTransfer):
                if state is PayState.POSTED:
                    await self._ledger.post(key)
                else:
                    await self._ledger.void(key)
            self._count(f"orphan_hold_{state.value}")
        return len(orphans)

    async def _recover(self, pay: Pay, wallet_account_id: int) -> None:
        try:
            if pay.state in (PayState.RECEIVED, PayState.RESERVED):
                # Returned as stored: a driver that held the lock may have sent it on.
                pay = await self._flow.expire(pay)
            if not pay.state.final:
                biller = self._billers.get(pay.biller_id)
                if biller is None:
                    log.error("biller %s is not configured", pay.biller_id, extra=pay_fields(pay))
                    return
                if pay.state is PayState.UNKNOWN and self._past_deadline(pay):
                    pay = await self._flow.reverse_at_deadline(pay, biller, wallet_account_id)
                else:
                    pay = await self._flow.drive(pay, biller, wallet_account_id)
        except Exception:
            log.exception("recovering the pay failed; tried again later", extra=pay_fields(pay))
            self._count("error")
            return
        self._count(pay.state.value)

    def _past_deadline(self, pay: Pay) -> bool:
        age = self._now() - pay.created_at
        return age.total_seconds() > self._cfg.unknown_deadline_s

    def _count(self, outcome: str) -> None:
        self.recovered[outcome] = self.recovered.get(outcome, 0) + 1
