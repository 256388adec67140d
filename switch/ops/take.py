"""Taking a free trio lock, semaphore or capacity limiter without a scheduler pass.

trio's ``acquire`` is a checkpoint even when the primitive is free: it yields to the
scheduler once, so every uncontended ``async with lock`` costs a whole pass of trio's
run loop for the task. On the pay path those passes were 7 of the 26 that a fetch+pay
pair cost the switch (counted with a trio instrument over a ``cpu_bench`` window: the
biller's concurrency limit and HTTP connection slots twice each, the terminal's send
lock twice, the pay's driver lock and the driving limit once each), and none of them
ever waited.

``take`` tries ``acquire_nowait`` first and waits in ``acquire`` only when the
primitive is held. Why this is safe:

- Fairness is kept. trio hands a released primitive straight to its longest waiter,
  so a free one never has anyone waiting, and ``acquire_nowait`` refuses while anyone
  is queued: a newcomer never overtakes a waiter.
- Cancellation still reaches the caller at its next real wait (a socket, the
  database); the paths that use ``take`` wait on one right after it.
"""

from __future__ import annotations

import trio

Primitive = trio.Lock | trio.Semaphore | trio.CapacityLimiter


async def take(primitive: Primitive) -> None:
    """``primitive.acquire()``, without the scheduler pass when it is free. Release it
    with ``primitive.release()`` as usual (a limiter from the same task)."""
    try:
        primitive.acquire_nowait()
    except trio.WouldBlock:
        await primitive.acquire()
