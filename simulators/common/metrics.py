"""Each simulator's /metrics: requests by operation and status, their latency, and
whatever the simulator knows of itself (payments applied, faults fired, SMS received)
read at scrape time. A registry per simulator, so several can share a process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switch.ops.series import Buckets, Counts, families

BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class SimulatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Plain numbers, exported at scrape time (switch/ops/series.py): cheap per request.
        self.requests = Counts(
            "sim_requests",
            "Requests answered, by operation (fetch, pay, status, reversal, other) and status",
            ["operation", "status"],
        )
        self.seconds = Buckets(
            "sim_request_seconds",
            "Time to answer a request (faults' delays included)",
            ["operation"],
            BUCKETS_S,
        )
        self.registry.register(_Observed(self))

    def observe(self, operation: str, status: int, started: float) -> None:
        self.requests.inc(operation, str(status))
        self.seconds.observe(time.perf_counter() - started, operation)

    def expose(
        self, gauges: Callable[[], Mapping[str, float]], counters: Callable[[], Mapping[str, int]]
    ) -> None:
        """Register the simulator's own numbers: ``gauges`` and ``counters`` map a metric
        name (with an optional ``{label="value"}``) to its value, read at each scrape."""
        self.registry.register(_Live(gauges, counters))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Observed(Collector):
    def __init__(self, m: SimulatorMetrics) -> None:
        self._m = m

    def collect(self) -> Iterator[Metric]:
        yield from families(self._m.requests, self._m.seconds)


class _Live(Collector):
    def __init__(
        self, gauges: Callable[[], Mapping[str, float]], counters: Callable[[], Mapping[str, int]]
    ) -> None:
        self._gauges = gauges
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        yield from _families(self._gauges(), GaugeMetricFamily)
        yield from _families(self._counters(), CounterMetricFamily)


def _families(
    values: Mapping[str, float], kind: type[GaugeMetricFamily | CounterMetricFamily]
) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for key, value in values.items():
        name, _, label_text = key.partition("{")
        pairs = [p.split("=", 1) for p in label_text.rstrip("}").split(",") if p]
        by_name.setdefault(name, []).append(({k: v.strip('"') for k, v in pairs}, value))
    for name, samples in sorted(by_name.items()):
        label_names = sorted(samples[0][0])
        family = kind(name, f"simulator: {name}", labels=label_names)
        for sample_labels, value in samples:
            family.add_metric([sample_labels[k] for k in label_names], value)
        yield family
