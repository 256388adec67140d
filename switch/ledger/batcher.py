"""Group commit: many concurrent callers, one database round trip per batch.

A batch is whatever queued while the previous batches were in flight (up to
``max_batch`` requests), optionally after lingering ``linger_s`` (at most 2 ms) to
let more arrive. ``pipeline_depth`` batches may be in flight at once: while one is
applied under the ledger lock, the next is already encoded and waiting on the wire.

Identical requests (same key, same content) share one slot and one answer: twenty
concurrent retries of one pay become one row in the batch. A request whose key is
already in the forming batch with *different* content waits for the next batch, so a
batch never holds one key twice (ledger_apply relies on that).

If the database refuses a batch for its content (a constraint we did not foresee),
the batch is split in halves until the bad request is alone: one bad request never
fails its neighbours. If the database does not answer (timeout, lost connection, a
server shutting down or starting up) or anything else goes wrong on the way, every
request in the batch gets ``LedgerUnavailable``: its outcome is unknown, and asking
again with the same key tells. Nothing a batch meets ends the batcher: a PostgreSQL
restart once ended it, and the switch with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import outcome
import trio

from switch.ledger.errors import LedgerBusy, LedgerClosed, LedgerError, LedgerUnavailable
from switch.ledger.requests import Request

# (code, transfer_id, state, amount_paise) for each request, in order.
Row = tuple[int, int | None, int | None, int | None]
ApplyFn = Callable[[Sequence[Request]], Awaitable[list[Row]]]

MAX_LINGER_S = 0.002
log = logging.getLogger("switch.ledger")


class BatchRejected(Exception):
    """The database refused the batch because of what is in it (not because it is down)."""


@dataclass
class BatcherStatistics:
    queued: int = 0
    in_flight_batches: int = 0
    batches: int = 0
    requests: int = 0
    splits: int = 0
    unavailable_batches: int = 0
    # batch size -> count, bucketed by powers of two (1, 2, 4, ... max_batch)
    size_histogram: dict[int, int] = field(default_factory=dict)


class GroupCommit:
    def __init__(
        self,
        apply: ApplyFn,
        *,
        max_batch: int,
        max_queued: int,
        pipeline_depth: int,
        linger_s: float,
        batch_timeout_s: float,
    ) -> None:
        assert max_batch >= 1 and max_queued >= max_batch and pipeline_depth >= 1
        self._apply = apply
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._linger_s = min(max(linger_s, 0.0), MAX_LINGER_S)
        self._batch_timeout_s = batch_timeout_s
        self._slots = trio.Semaphore(pipeline_depth)
        self._forming: dict[str, Request] = {}
        self._waiting: list[Request] = []  # same key as a forming request, other content
        self._wakeup = trio.Event()
        self._batch_done = trio.Event()  # set after every batch (drain waits on it)
        self._closed = False
        self._stats = BatcherStatistics()

    def statistics(self) -> BatcherStatistics:
        self._stats.queued = len(self._forming) + len(self._waiting)
        return self._stats

    async def submit(self, req: Request) -> Row:
        if self._closed:
            raise LedgerClosed("the ledger is shutting down")
        req = self._enqueue(req)
        cell: list[trio.lowlevel.Task | None] = [trio.lowlevel.current_task()]
        req.waiters.append(cell)

        def abort(_: object) -> trio.lowlevel.Abort:
            # The request stays queued (it may already be on the wire); the caller
            # learns its fate by asking again with the same key.
            cell[0] = None
            return trio.lowlevel.Abort.SUCCEEDED

        row: Row = await trio.lowlevel.wait_task_rescheduled(abort)
        return row

    def _enqueue(self, req: Request) -> Request:
        queued = self._forming.get(req.key)
        if queued is not None and queued.same_content(req):
            return queued  # share the slot and the answer
        if len(self._forming) + len(self._waiting) >= self._max_queued:
            raise LedgerBusy(f"ledger queue is full ({self._max_queued} requests)")
        if queued is not None:
            self._waiting.append(req)
        else:
            self._forming[req.key] = req
        self._wakeup.set()
        return req

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The batcher task: forms batches and starts them, forever."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                if not self._forming:
                    await self._wakeup.wait()
                    self._wakeup = trio.Event()
                    continue
                if self._linger_s:
                    await trio.sleep(self._linger_s)
                await self._slots.acquire()
                batch = self._take_batch()
                nursery.start_soon(self._run_batch, batch)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new requests and wait (bounded) until every queued one is answered."""
        self._closed = True
        with trio.move_on_after(timeout_s):
            while self._forming or self._waiting or self._stats.in_flight_batches:
                self._batch_done = trio.Event()
                await self._batch_done.wait()

    def _take_batch(self) -> list[Request]:
        batch: list[Request] = []
        forming = self._forming
        while forming and len(batch) < self._max_batch:
            key = next(iter(forming))
            batch.append(forming.pop(key))
        # Requests that waited for their key to leave the forming batch move in now.
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for req in waiting:
                self._enqueue(req)
        return batch

    async def _run_batch(self, batch: list[Request]) -> None:
        stats = self._stats
        stats.in_flight_batches += 1
        try:
            await self._apply_or_split(batch)
        finally:
            stats.in_flight_batches -= 1
            self._slots.release()
            self._batch_done.set()

    async def _apply_or_split(self, batch: list[Request]) -> None:
        stats = self._stats
        try:
            with trio.fail_after(self._batch_timeout_s):
                rows = await self._apply(batch)
        except BatchRejected as exc:
            if len(batch) == 1:
                _deliver_error(batch[0], LedgerError(f"refused by the database: {exc}"))
                return
            stats.splits += 1
            half = len(batch) // 2
            await self._apply_or_split(batch[:half])
            await self._apply_or_split(batch[half:])
            return
        except Exception as exc:  # the database is away, or a fault of ours: never fatal
            if not isinstance(exc, trio.TooSlowError | OSError | LedgerUnavailable):
                log.error("ledger batch failed unexpectedly", exc_info=exc)
            stats.unavailable_batches += 1
            error = LedgerUnavailable(f"ledger database did not answer: {exc!r}; ask again")
            for req in batch:
                _deliver_error(req, error)
            return
        assert len(rows) == len(batch), "ledger_apply must answer every request"
        stats.batches += 1
        stats.requests += len(batch)
        bucket = 1 << max(0, math.ceil(math.log2(len(batch))))
        stats.size_histogram[bucket] = stats.size_histogram.get(bucket, 0) + 1
        for req, row in zip(batch, rows, strict=True):
            for cell in req.waiters:
                task = cell[0]
                if task is not None:
                    cell[0] = None
                    trio.lowlevel.reschedule(task, outcome.Value(row))


def _deliver_error(req: Request, error: LedgerError) -> None:
    # One Outcome per waiter: an Outcome can be unwrapped only once.
    for cell in req.waiters:
        task = cell[0]
        if task is not None:
            cell[0] = None
            trio.lowlevel.reschedule(task, outcome.Error(error))
