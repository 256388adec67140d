"""The deterministic simulation of the pay core (``python -m loadtests.simulate``):
2,000 seeds, each a whole run of two switch processes with crashes, lost replies,
late arrivals and stalls on a virtual clock, checked after every effect and at the
end. A failing seed is printed with the one command that runs it again."""

from __future__ import annotations

import logging
import time

import pytest

from loadtests.simulate import run_many
from loadtests.simulation.world import Options, run_seed

SEEDS = 2000


def test_two_thousand_seeds_keep_every_invariant(capsys: pytest.CaptureFixture[str]) -> None:
    logging.disable(logging.CRITICAL)
    try:
        started = time.perf_counter()
        failed = run_many(range(SEEDS), Options())
        took = time.perf_counter() - started
    finally:
        logging.disable(logging.NOTSET)
    with capsys.disabled():
        print(f"\nsimulation: {SEEDS} seeds in {took:.1f} s, {SEEDS / took:.0f} seeds/s")
    assert failed == [], f"seeds that broke an invariant: {failed}"


def test_a_seed_is_the_same_run_every_time() -> None:
    logging.disable(logging.CRITICAL)
    try:
        first, again, other = run_seed(7), run_seed(7), run_seed(8)
    finally:
        logging.disable(logging.NOTSET)
    assert (first.effects, first.pays, first.virtual_s) == (
        again.effects,
        again.pays,
        again.virtual_s,
    )
    assert first.crashes > 0 and first.effects > 50  # the run did happen, with crashes
    assert (first.effects, first.pays) != (other.effects, other.pays)
