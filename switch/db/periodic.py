"""Periodic work against the database: bounded, and never fatal to the switch.

``every`` runs a step each ``interval_s`` for as long as the switch runs. Each run has
a deadline (a stuck database must not stall the loop forever: the run is abandoned
and the next one tries again), and an error the step cannot help (the database gone,
a refusal) is logged and counted, not raised: the switch's other work goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
import trio

log = logging.getLogger("switch.periodic")
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


async def every(
    what: str,
    interval_s: float,
    deadline_s: float,
    step: Callable[[], Awaitable[object]],
    *,
    errors: tuple[type[Exception], ...] = DATABASE_ERRORS,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    while True:
        with trio.move_on_after(deadline_s) as run:
            try:
                await step()
            except errors as exc:
                log.warning("%s failed: %s", what, exc)
                if on_error is not None:
                    on_error(exc)
        if run.cancelled_caught:
            log.warning("%s took over %.0f s: abandoned, tried again later", what, deadline_s)
        await trio.sleep(interval_s)
