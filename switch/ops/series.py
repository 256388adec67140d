"""Counters and histograms for the hot path: plain Python numbers, exported at scrape
time as Prometheus metric families.

prometheus-client's own Counter and Histogram take a lock and resolve their labels on
every call; on this machine that cost the switch and its simulators several percent
of end-to-end throughput (measured with the demo: docs/operations.md). Here a count is
a dict update and an observation a bisect and two additions. No lock is needed: every
update and every scrape happens on the one trio thread of the process.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


class Counts:
    """A counter by label values."""

    def __init__(self, name: str, doc: str, labels: Sequence[str]) -> None:
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.values: dict[tuple[str, ...], int] = {}

    def inc(self, *label_values: str) -> None:
        self.values[label_values] = self.values.get(label_values, 0) + 1

    def get(self, *label_values: str) -> int:
        return self.values.get(label_values, 0)

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in sorted(self.values.items()):
            family.add_metric(list(key), value)
        return family


class Buckets:
    """A histogram by label values: per series, a count per bucket (``le``) and a sum."""

    def __init__(self, name: str, doc: str, labels: Sequence[str], bounds: Sequence[float]) -> None:
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.bounds = sorted(float(b) for b in bounds)
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        counts = self.series.get(label_values)
        if counts is None:
            counts = self.series[label_values] = [0.0] * (len(self.bounds) + 2)  # + +Inf, sum
        counts[bisect_left(self.bounds, value)] += 1
        counts[-1] += value

    def count(self, *label_values: str) -> int:
        counts = self.series.get(label_values)
        return int(sum(counts[:-1])) if counts else 0

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, counts in sorted(self.series.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip([*self.bounds, float("inf")], counts[:-1], strict=True):
                cumulative += n
                buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
            family.add_metric(list(key), buckets, sum_value=counts[-1])
        return family


def families(*series: Counts | Buckets) -> Iterator[Metric]:
    for s in series:
        yield s.family()
