"""``take``: a free lock, semaphore or limiter is taken without a scheduler pass, a
held one is waited for in order, and nobody overtakes a waiter."""

from __future__ import annotations

import trio
import trio.testing

from switch.ops.take import Primitive, take


class _Steps(trio.abc.Instrument):
    """Counts the scheduler passes of the tasks it is told to watch."""

    def __init__(self) -> None:
        self.watched: set[trio.lowlevel.Task] = set()
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task in self.watched:
            self.steps += 1


def _primitives() -> list[Primitive]:
    return [trio.Lock(), trio.Semaphore(1), trio.CapacityLimiter(1)]


async def _passes(acquire_and_release: object, times: int) -> int:
    """Scheduler passes the current task makes while taking a free primitive
    ``times`` times (its own start excluded)."""
    steps = _Steps()
    trio.lowlevel.add_instrument(steps)
    steps.watched.add(trio.lowlevel.current_task())
    try:
        for _ in range(times):
            await acquire_and_release()  # type: ignore[operator]
    finally:
        trio.lowlevel.remove_instrument(steps)
    return steps.steps


async def test_a_free_primitive_is_taken_without_a_scheduler_pass() -> None:
    for primitive in _primitives():

        async def fast(p: Primitive = primitive) -> None:
            await take(p)
            p.release()

        async def trio_own(p: Primitive = primitive) -> None:
            await p.acquire()
            p.release()

        assert await _passes(fast, 100) == 0, primitive
        # The reason for take: trio's own acquire yields once each time, free or not.
        assert await _passes(trio_own, 100) == 100, primitive


async def test_a_held_primitive_is_waited_for_and_handed_over_in_order() -> None:
    for primitive in _primitives():
        order: list[str] = []

        async def worker(name: str, p: Primitive = primitive, order: list[str] = order) -> None:
            await take(p)
            order.append(name)
            await trio.sleep(0.01)
            p.release()

        async with trio.open_nursery() as nursery:
            await take(primitive)  # held by the test
            for name in ("first", "second", "third"):
                nursery.start_soon(worker, name)
                await trio.testing.wait_all_tasks_blocked()
            assert order == []  # all three wait while it is held
            primitive.release()
        assert order == ["first", "second", "third"], primitive


async def test_a_newcomer_does_not_overtake_a_waiter() -> None:
    """Released with a waiter queued, the primitive is the waiter's at once: a task
    that asks in between waits behind it."""
    for primitive in _primitives():
        order: list[str] = []

        async def worker(name: str, p: Primitive = primitive, order: list[str] = order) -> None:
            await take(p)
            order.append(name)
            p.release()

        async with trio.open_nursery() as nursery:
            await take(primitive)
            nursery.start_soon(worker, "waiter")
            await trio.testing.wait_all_tasks_blocked()
            primitive.release()  # handed to the waiter, which has not run yet
            nursery.start_soon(worker, "newcomer")
        assert order == ["waiter", "newcomer"], primitive


async def test_a_cancelled_wait_takes_nothing() -> None:
    for primitive in _primitives():
        held, done = trio.Event(), trio.Event()

        async def holder(
            p: Primitive = primitive, held: trio.Event = held, done: trio.Event = done
        ) -> None:
            await take(p)
            held.set()
            await done.wait()
            p.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await held.wait()
            with trio.move_on_after(0.05) as scope:
                await take(primitive)
            assert scope.cancelled_caught
            done.set()
        await take(primitive)  # free again: the cancelled waiter left no claim
        primitive.release()
