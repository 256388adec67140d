"""Counting trio's scheduler passes, for the benchmarks (``[ops] count_scheduler_steps``).

A pass is one resumption of one task by trio's run loop: a task woken by its socket,
by the database's answer, by a lock handed over, or by a checkpoint that yields even
though nothing waits. CPU time per fetch+pay pair swings ±10 % with this machine's
noise; the passes per pair do not move at all between runs, so they show a change to
the request path's awaits exactly (``python -m loadtests.cpu_bench --steps``). The
count costs a little CPU on every pass, so it is off unless asked for.

Exposed as ``switch_scheduler_steps_total`` and ``switch_tasks_spawned_total`` on the
switch's /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class StepCounter(trio.abc.Instrument, Collector):
    """A trio instrument that counts passes and spawned tasks, and a Prometheus
    collector that reports them."""

    def __init__(self) -> None:
        self.steps = 0
        self.spawned = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "switch_scheduler_steps", "Task resumptions by trio's run loop", value=self.steps
        )
        yield CounterMetricFamily(
            "switch_tasks_spawned", "Tasks started in the switch's trio run", value=self.spawned
        )
