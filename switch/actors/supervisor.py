"""The supervisor: the switch's long-lived tasks keep running whatever fails under them.

A task that is meant to run for the life of the process (recovery, the SMS notifier,
settlement, sampling, the batchers' feeders) and fails -- the database restarted, Redis
went away, a bug met data it did not expect -- is logged, counted and started again
after a bounded, growing pause (``backoff_base_s`` doubling up to ``backoff_max_s``;
a task that ran for ``healthy_after_s`` before failing starts again from the base).
One task's failure never ends the process: before this, a PostgreSQL restart raised
out of the recovery loop and took every pay with it until a person restarted the
switch.

Cancellation is not a failure: when the switch stops, its nursery is cancelled and
every supervised task ends with it. A task that returns is started again too (none is
meant to), so a loop that exits by mistake is seen in the counts, not lost silently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

log = logging.getLogger("switch.supervisor")


@dataclass
class SupervisorStatistics:
    running: int = 0
    restarts: dict[str, int] = field(default_factory=dict)  # task name -> restarts
    last_error: dict[str, str] = field(default_factory=dict)  # task name -> repr


class Supervisor:
    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        healthy_after_s: float = 30.0,
    ) -> None:
        assert 0 < backoff_base_s <= backoff_max_s
        self._nursery = nursery
        self._base_s = backoff_base_s
        self._max_s = backoff_max_s
        self._healthy_after_s = healthy_after_s
        self._stats = SupervisorStatistics()

    def statistics(self) -> SupervisorStatistics:
        return self._stats

    def start(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        """Run ``run()`` for the life of the nursery, started again whenever it ends."""
        self._nursery.start_soon(self._keep, name, run, name=f"supervised:{name}")

    async def _keep(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        stats = self._stats
        failures = 0
        while True:
            started = trio.current_time()
            stats.running += 1
            try:
                await run()
                log.error("%s returned; starting it again", name)
                stats.last_error[name] = "returned"
            except Exception as exc:
                log.error("%s failed; starting it again", name, exc_info=exc)
                stats.last_error[name] = repr(exc)[:200]
            finally:
                stats.running -= 1
            stats.restarts[name] = stats.restarts.get(name, 0) + 1
            if trio.current_time() - started >= self._healthy_after_s:
                failures = 0
            await trio.sleep(self.backoff_s(failures))
            failures += 1

    def backoff_s(self, failures: int) -> float:
        """The pause before the next start after ``failures`` quick failures in a row."""
        return min(self._max_s, self._base_s * float(2 ** min(failures, 30)))
