"""The ledger's trio-facing API. Read docs/ledger.md for the model.

    async with Ledger.open(database_url, cfg) as ledger:
        wallet = await ledger.open_account(AccountKind.WALLET, "wallet:A1", "Ram Stores")
        await ledger.top_up(wallet.id, 500_00, bank_ref="UTR123")
        hold = await ledger.reserve(pay_key("T1", "R1"), wallet.id, biller.id, 120_00)
        await ledger.post(hold.key)          # or: await ledger.void(hold.key)

Every money-moving call carries an idempotency key: the same key with the same
content returns the first result (``Transfer.replayed`` is then true); the same key
with different content raises ``ModifiedRequest``. Refusals raise a subclass of
``LedgerError`` and write nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg
import trio

from switch.config import LedgerConfig
from switch.db.bridge import AsyncioBridge
from switch.db.database import Database
from switch.db.periodic import DATABASE_ERRORS
from switch.ledger import invariants, store
from switch.ledger.batcher import BatcherStatistics, GroupCommit, Row
from switch.ledger.errors import (
    AlreadyResolved,
    InsufficientFunds,
    LedgerError,
    ModifiedRequest,
    TransferArchived,
    UnknownAccount,
    UnknownTransfer,
)
from switch.ledger.requests import Op, Request, check_account_id, check_amount, check_key
from switch.ledger.types import (
    FUNDING_CODE,
    Account,
    AccountKind,
    Transfer,
    TransferState,
    top_up_key,
)

# Result codes of ledger_apply (migrations 0002 and 0015).
(
    _APPLIED,
    _REPLAY,
    _MODIFIED,
    _INSUFFICIENT,
    _UNKNOWN_ACCOUNT,
    _UNKNOWN_TRANSFER,
    _RESOLVED,
    _ARCHIVED,
) = range(8)
# The codes under which a request was taken (with a state other than rejected).
TAKEN_CODES = (_APPLIED, _REPLAY)


# The expiry sweep meets these while the database restarts; the next sweep tries again.
SWEEP_ERRORS: tuple[type[Exception], ...] = (LedgerError, *DATABASE_ERRORS)


class Ledger:
    def __init__(self, bridge: AsyncioBridge, pool: asyncpg.Pool, cfg: LedgerConfig) -> None:
        self._bridge = bridge
        self._pool = pool
        self._cfg = cfg
        self._batcher = GroupCommit(
            self._apply,
            max_batch=cfg.max_batch,
            max_queued=cfg.max_queued,
            pipeline_depth=cfg.pipeline_depth,
            linger_s=cfg.linger_s,
            batch_timeout_s=cfg.batch_timeout_s,
        )
        self._funding_id: int | None = None
        self.expired_total = 0
        # Told of every batch applied: (requests, seconds). Metrics set it.
        self.on_batch: Callable[[int, float], None] | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls, database: str | Database, cfg: LedgerConfig | None = None
    ) -> AsyncIterator[Ledger]:
        """Start the batcher and the expiry sweeper, on a connection pool of its own.

        The ledger's pool (``pipeline_depth`` + 2 connections) is separate from the
        rest of the switch's so that other database work never delays a batch.
        """
        cfg = cfg or LedgerConfig()
        url = database if isinstance(database, str) else database.url
        async with Database.open(url, cfg.pipeline_depth + 2) as db:
            ledger = cls(db.bridge, db.pool, cfg)
            async with trio.open_nursery() as nursery:
                await nursery.start(ledger._batcher.run)
                nursery.start_soon(ledger._sweep_expired)
                try:
                    yield ledger
                finally:
                    await ledger._batcher.drain(cfg.batch_timeout_s)
                    nursery.cancel_scope.cancel()

    def statistics(self) -> BatcherStatistics:
        return self._batcher.statistics()

    # -- accounts ------------------------------------------------------------------

    async def open_account(self, kind: AccountKind, code: str, name: str) -> Account:
        """Create an account, or return the existing one with this code (same kind)."""
        kind = AccountKind(kind)
        row = await self._bridge.run(store.open_account(self._pool, kind.value, code, name))
        if row is None or row["kind"] != kind.value:
            raise LedgerError(f"account code {code!r} exists with another kind")
        return _account(row)

    async def open_accounts(
        self, kind: AccountKind, codes_and_names: list[tuple[str, str]]
    ) -> list[Account]:
        """Open many accounts in one round trip (provisioning, benchmarks)."""
        kind = AccountKind(kind)
        codes = [c for c, _ in codes_and_names]
        names = [n for _, n in codes_and_names]
        rows = await self._bridge.run(store.open_accounts(self._pool, kind.value, codes, names))
        accounts = [_account(r) for r in rows]
        if len(accounts) != len(codes) or any(a.kind != kind for a in accounts):
            raise LedgerError("some account codes exist with another kind")
        return accounts

    async def account(self, account_id: int) -> Account:
        row = await self._bridge.run(store.fetch_account(self._pool, account_id=account_id))
        if row is None:
            raise UnknownAccount(f"no account {account_id}")
        return _account(row)

    async def account_by_code(self, code: str) -> Account:
        row = await self._bridge.run(store.fetch_account(self._pool, code=code))
        if row is None:
            raise UnknownAccount(f"no account with code {code!r}")
        return _account(row)

    async def state_of(self, key: str) -> TransferState | None:
        """The state of the transfer with this idempotency key (None: no such transfer)."""
        row = await self._bridge.run(store.fetch_transfer(self._pool, key))
        return None if row is None else TransferState(row["state"])

    async def balance(self, account_id: int) -> int:
        return (await self.account(account_id)).balance_paise

    # -- money ---------------------------------------------------------------------

    async def reserve(
        self,
        key: str,
        debit_account_id: int,
        credit_account_id: int,
        amount_paise: int,
        timeout_s: float | None = None,
    ) -> Transfer:
        """Hold ``amount_paise`` of the debit account (a wallet) in flight, pending.

        Resolve it with ``post`` (to the credit account) or ``void`` (back to the
        wallet) before ``timeout_s``; after that the ledger voids it itself.
        """
        req = self.reserve_request(
            key, debit_account_id, credit_account_id, amount_paise, timeout_s
        )
        return await self._submit(req)

    async def post(self, key: str) -> Transfer:
        """Complete a pending transfer: in-flight -> its credit account."""
        return await self._submit(self.post_request(key))

    async def void(self, key: str) -> Transfer:
        """Cancel a pending transfer: in-flight -> back to its debit account."""
        return await self._submit(self.void_request(key))

    # -- requests applied by a caller's own transaction ------------------------------
    # A pay's hold and the ``sent`` that records it are one transaction (the pay
    # store's batch of moves, ``switch/pays/moves.py``): these build the same checked
    # requests as ``reserve``/``post``/``void``, and ``transfer_result`` reads the
    # database's answer to one as those methods do.

    def reserve_request(
        self,
        key: str,
        debit_account_id: int,
        credit_account_id: int,
        amount_paise: int,
        timeout_s: float | None = None,
    ) -> Request:
        timeout_s = self._cfg.default_timeout_s if timeout_s is None else timeout_s
        if not 0 < timeout_s <= 7 * 86400:
            raise LedgerError(f"timeout_s must be in (0, 7 days], got {timeout_s}")
        return Request(
            Op.RESERVE,
            check_key(key),
            check_account_id(debit_account_id),
            check_account_id(credit_account_id),
            check_amount(amount_paise, self._cfg.max_amount_paise),
            int(timeout_s * 1000),
        )

    def post_request(self, key: str) -> Request:
        return Request(Op.POST, check_key(key), 0, 0, 0, 0)

    def void_request(self, key: str) -> Request:
        return Request(Op.VOID, check_key(key), 0, 0, 0, 0)

    async def transfer(
        self, key: str, debit_account_id: int, credit_account_id: int, amount_paise: int
    ) -> Transfer:
        """A single-phase transfer, posted at once."""
        req = Request(
            Op.TRANSFER,
            check_key(key),
            check_account_id(debit_account_id),
            check_account_id(credit_account_id),
            check_amount(amount_paise, self._cfg.max_amount_paise),
            0,
        )
        return await self._submit(req)

    async def top_up(self, wallet_id: int, amount_paise: int, bank_ref: str) -> Transfer:
        """Funding (bank) -> wallet, idempotent on the bank reference."""
        if self._funding_id is None:
            # Concurrent first callers may all look; they all find the same account.
            funding = await self.account_by_code(FUNDING_CODE)
            self._funding_id = funding.id
        return await self.transfer(top_up_key(bank_ref), self._funding_id, wallet_id, amount_paise)

    async def _submit(self, req: Request) -> Transfer:
        return transfer_result(req, await self._batcher.submit(req))

    async def _apply(self, batch: Sequence[Request]) -> list[Row]:
        started = time.perf_counter()
        rows = await self._bridge.run(store.apply_batch(self._pool, batch))
        if self.on_batch is not None:
            self.on_batch(len(batch), time.perf_counter() - started)
        return rows

    async def check_invariants(self, grace_s: float = invariants.DEFAULT_GRACE_S) -> list[str]:
        """Every violated invariant, one line each (empty: all hold)."""

        async def run() -> list[str]:
            async with self._pool.acquire() as conn:
                return await invariants.check(conn, grace_s)

        return await self._bridge.run(run())

    async def expire_overdue(self) -> int:
        """Void every pending transfer past its deadline (bounded per call)."""
        total = 0
        for _ in range(100):
            n = await self._bridge.run(store.expire(self._pool, self._cfg.expiry_sweep_limit))
            total += n
            if n < self._cfg.expiry_sweep_limit:
                break
        self.expired_total += total
        return total

    async def _sweep_expired(self) -> None:
        while True:
            await trio.sleep(self._cfg.expiry_sweep_interval_s)
            try:
                await self.expire_overdue()
            except SWEEP_ERRORS:
                # The database may be restarting; the next sweep tries again.
                continue


def _account(row: asyncpg.Record) -> Account:
    return Account(
        row["id"], AccountKind(row["kind"]), row["code"], row["name"], row["balance_paise"]
    )


def transfer_result(req: Request, row: Row) -> Transfer:
    """The transfer ``ledger_apply`` answered for ``req``, or the refusal it means
    (a ``LedgerError``: nothing was written for it)."""
    code, tid, state, amount = row
    if code in TAKEN_CODES:
        assert tid is not None and state is not None and amount is not None
        if state == TransferState.REJECTED:
            raise InsufficientFunds(f"account {req.debit} cannot cover {req.amount} paise")
        return Transfer(tid, req.key, TransferState(state), amount, code == _REPLAY)
    if code == _INSUFFICIENT:
        raise InsufficientFunds(f"account {req.debit} cannot cover {req.amount} paise")
    if code == _MODIFIED:
        raise ModifiedRequest(f"key {req.key!r} was used before with different content")
    if code == _UNKNOWN_ACCOUNT:
        raise UnknownAccount(f"no account {req.debit} or {req.credit}")
    if code == _UNKNOWN_TRANSFER:
        raise UnknownTransfer(f"no transfer with key {req.key!r}")
    if code == _ARCHIVED:
        raise TransferArchived(f"key {req.key!r} names a transfer in an archived month")
    if code == _RESOLVED:
        final = TransferState(state).name.lower() if state else "not two-phase"
        raise AlreadyResolved(f"transfer {req.key!r} is already {final}")
    raise AssertionError(f"ledger_apply returned unknown code {code}")
