"""Turn a locust run's ``<prefix>_stats_history.csv`` into a PNG: throughput (requests
and failures per second, users) and latency percentiles (p50, p95, p99) over time.

    python -m loadtests.report run_stats_history.csv --out run.png

It prints the run's figures too: median and peak throughput, and the median over the
run of each latency percentile (locust's history gives percentiles over a sliding
window of the last 10 seconds, so each sample is "latency now").
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt


@dataclass
class Sample:
    t_s: float
    users: int
    rps: float
    failures_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def read_history(path: Path) -> list[Sample]:
    """The "Aggregated" rows of locust's stats history, time from the first row."""
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    if not rows:
        raise ValueError(f"{path}: no Aggregated rows (is it a locust _stats_history.csv?)")
    start = int(rows[0]["Timestamp"])

    def num(row: dict[str, str], key: str) -> float:
        value = row.get(key, "")
        return float(value) if value not in ("", "N/A") else 0.0

    return [
        Sample(
            int(r["Timestamp"]) - start,
            int(num(r, "User Count")),
            num(r, "Requests/s"),
            num(r, "Failures/s"),
            num(r, "50%"),
            num(r, "95%"),
            num(r, "99%"),
        )
        for r in rows
    ]


def plot(samples: list[Sample], out: Path, title: str) -> Path:
    t = [s.t_s for s in samples]
    fig, (load, latency) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    load.plot(t, [s.rps for s in samples], label="requests/s")
    load.plot(t, [s.failures_per_s for s in samples], label="failures/s", color="tab:red")
    users = load.twinx()
    users.plot(t, [s.users for s in samples], label="users", color="tab:gray", linestyle="--")
    users.set_ylabel("users")
    load.set_ylabel("per second")
    load.legend(loc="upper left")
    load.set_title(title)
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        latency.plot(t, [getattr(s, key) for s in samples], label=label)
    latency.set_ylabel("latency (ms, over the last 10 s)")
    latency.set_xlabel("seconds into the run")
    latency.legend(loc="upper left")
    for ax in (load, latency):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def summary(samples: list[Sample]) -> str:
    busy = [s for s in samples if s.users > 0 and s.rps > 0] or samples

    def med(key: str) -> float:
        return statistics.median(getattr(s, key) for s in busy)

    return (
        f"{len(samples)} samples over {samples[-1].t_s:.0f} s: median {med('rps'):.1f} req/s, "
        f"peak {max(s.rps for s in busy):.1f} req/s; median p50 {med('p50_ms'):.0f} ms, "
        f"p95 {med('p95_ms'):.0f} ms, p99 {med('p99_ms'):.0f} ms; "
        f"failures {sum(s.failures_per_s for s in samples):.2f}/s summed over samples"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("history", type=Path, help="locust's <prefix>_stats_history.csv")
    parser.add_argument("--out", type=Path, default=Path("loadtest.png"))
    parser.add_argument("--title", default="terminal protocol load")
    args = parser.parse_args(argv)
    try:
        samples = read_history(args.history)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(samples))
    print(f"wrote {plot(samples, args.out, args.title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
