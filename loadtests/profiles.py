"""Load profiles: the share of the peak number of users at each moment of a run.

Pure, so that a test can check each shape without starting locust (which patches the
standard library with gevent as it is imported).
"""

from __future__ import annotations

import math

PROFILES = ("steady", "ramp", "spike", "morning_rush")


def users_share(kind: str, x: float) -> float:
    """Share of the peak at fraction ``x`` (0..1) of the run.

    steady: all of it. ramp: from none to all. spike: a fifth, all of it for the
    middle fifth, a fifth again. morning_rush: shops opening, a peak at 30% of the run
    (a bell of width 0.12), then a third of the peak for the rest of the day."""
    if kind == "ramp":
        return x
    if kind == "spike":
        return 1.0 if 0.4 <= x < 0.6 else 0.2
    if kind == "morning_rush":
        rise = math.exp(-(((x - 0.3) / 0.12) ** 2))
        return max(rise, 0.33 if x > 0.3 else rise)
    return 1.0
