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
from collections.abc import Mapping

import trio

from switch.config import PaysConfig
from switch.db.database import Database
from switch.ledger import AlreadyResolved, Ledger, UnknownTransfer, pay_key
from switch.ops.logs import pay_fields
from switch.pays.flow import Biller, PayFlow
from switch.pays.states import PayState
from switch.pays.store import Pay, PayStore, pay_from_row

log = logging.getLogger("switch.recovery")

LEASE_SQL = """
UPDATE pays p SET attempts = attempts + 1, lease_owner = $5,
       lease_until = now() + make_interval(
           secs => least($2::float8 * power(2, attempts), $3::float8))
  FROM agents a
 WHERE a.id = p.agent_id
   AND p.id IN (SELECT id FROM pays
                 WHERE state NOT IN ('posted', 'voided')
                   AND updated_at < now() - make_interval(secs => $4::float8)
                   AND (lease_until IS NULL OR lease_until < now())
                 ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING p.*, a.wallet_account_id
"""


# Pending pay holds whose pay is final. The key is pay:<terminal>:<ref> (neither part
# contains ':'), so the pay is found through its unique (terminal_id, terminal_ref).
ORPHAN_HOLDS_SQL = """
SELECT p.terminal_id, p.terminal_ref, p.state
  FROM transfers t
  JOIN pays p ON p.terminal_id = split_part(t.idem_key, ':', 2)
             AND p.terminal_ref = split_part(t.idem_key, ':', 3)
 WHERE t.state = 1 AND t.idem_key LIKE 'pay:%'
   AND p.state IN ('posted', 'voided')
   AND t.created_at < now() - make_interval(secs => $2::float8)
 LIMIT $1
"""


class Recovery:
    def __init__(
        self,
        db: Database,
        store: PayStore,
        flow: PayFlow,
        ledger: Ledger,
        billers: Mapping[str, Biller],
        cfg: PaysConfig,
    ) -> None:
        self._db = db
        self._store = store
        self._flow = flow
        self._ledger = ledger
        self._billers = billers
        self._cfg = cfg
        self.recovered: dict[str, int] = {}  # outcome -> count

    async def run(self) -> None:
        while True:
            leased = await self.sweep_once()
            if leased < self._cfg.recovery_batch:
                await trio.sleep(self._cfg.recovery_interval_s)

    async def sweep_once(self, idle_s: float | None = None) -> int:
        """Lease and drive one batch of stale pays; return how many were leased."""
        cfg = self._cfg
        idle = cfg.recovery_idle_s if idle_s is None else idle_s
        rows = await self._db.fetch(
            LEASE_SQL,
            cfg.recovery_batch,
            cfg.inquiry_backoff_base_s,
            cfg.inquiry_backoff_max_s,
            idle,
            self._store.process_id,
        )
        async with trio.open_nursery() as nursery:
            for row in rows:
                nursery.start_soon(self._recover, pay_from_row(row), row["wallet_account_id"])
        await self.resolve_orphan_holds(idle)
        return len(rows)

    async def resolve_orphan_holds(self, idle_s: float) -> int:
        """Bring pending holds of final pays in line with their pay (see above)."""
        rows = await self._db.fetch(ORPHAN_HOLDS_SQL, self._cfg.recovery_batch, idle_s)
        for row in rows:
            key = pay_key(row["terminal_id"], row["terminal_ref"])
            with contextlib.suppress(AlreadyResolved, UnknownTransfer):
                if row["state"] == PayState.POSTED:
                    await self._ledger.post(key)
                else:
                    await self._ledger.void(key)
            self._count(f"orphan_hold_{row['state']}")
        return len(rows)

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
        age = dt.datetime.now(dt.UTC) - pay.created_at
        return age.total_seconds() > self._cfg.unknown_deadline_s

    def _count(self, outcome: str) -> None:
        self.recovered[outcome] = self.recovered.get(outcome, 0) + 1
