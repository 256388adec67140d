"""Group commit for any write: many callers, one bridge crossing and one round trip
per batch. (The ledger has its own, with idempotency keys and batch splitting; this
one is for records whose writes are already safe to retry, like pay states.)

A batch is whatever queued while ``depth`` earlier batches were in flight, at most
``max_batch`` items. ``apply`` answers each item with a result or an exception, in
order. A full queue (``max_queued``) answers ``BatcherBusy`` at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import outcome
import trio

T = TypeVar("T")
R = TypeVar("R")


class BatcherBusy(Exception):
    pass


class _Slot(Generic[R]):
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: outcome.Outcome[R] | None = None


class Batcher(Generic[T, R]):
    def __init__(
        self,
        apply: Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]],
        *,
        max_batch: int = 256,
        depth: int = 2,
        max_queued: int = 20_000,
    ) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._slots = trio.Semaphore(depth)
        self._queue: list[tuple[T, _Slot[R]]] = []
        self._wakeup = trio.Event()
        self.running = False
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        if not self.running:  # not started (a tool, a test): one item, one round trip
            [result] = await self._apply([item])
            if isinstance(result, Exception):
                raise result
            return result
        if len(self._queue) >= self._max_queued:
            raise BatcherBusy(f"{len(self._queue)} writes queued")
        slot: _Slot[R] = _Slot()
        self._queue.append((item, slot))
        self._wakeup.set()
        await slot.done.wait()
        assert slot.result is not None
        return slot.result.unwrap()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.running = True
            task_status.started()
            try:
                while True:
                    if not self._queue:
                        await self._wakeup.wait()
                        self._wakeup = trio.Event()
                        continue
                    await self._slots.acquire()
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    nursery.start_soon(self._execute, batch)
            finally:
                self.running = False

    async def _execute(self, batch: list[tuple[T, _Slot[R]]]) -> None:
        results: Sequence[R | Exception]
        try:
            results = await self._apply([item for item, _ in batch])
            assert len(results) == len(batch), "apply must answer every item"
        except Exception as exc:
            results = [exc] * len(batch)
        finally:
            self._slots.release()
        self.batches += 1
        self.items += len(batch)
        for (_, slot), result in zip(batch, results, strict=True):
            slot.result = (
                outcome.Error(result) if isinstance(result, Exception) else outcome.Value(result)
            )
            slot.done.set()
