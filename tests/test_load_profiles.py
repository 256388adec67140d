"""The locust profiles' shapes (loadtests/profiles.py)."""

from __future__ import annotations

import pytest

from loadtests.profiles import PROFILES, users_share

POINTS = [n / 100 for n in range(100)]


def test_steady_and_ramp() -> None:
    assert {users_share("steady", x) for x in POINTS} == {1.0}
    ramp = [users_share("ramp", x) for x in POINTS]
    assert ramp == sorted(ramp) and ramp[0] == 0 and ramp[-1] == pytest.approx(0.99)


def test_spike_is_the_peak_for_the_middle_fifth_only() -> None:
    at = {x: users_share("spike", x) for x in POINTS}
    assert {v for x, v in at.items() if 0.4 <= x < 0.6} == {1.0}
    assert {v for x, v in at.items() if x < 0.4 or x >= 0.6} == {0.2}


def test_morning_rush_peaks_at_thirty_percent_then_settles_to_a_third() -> None:
    rush = [users_share("morning_rush", x) for x in POINTS]
    assert max(rush) == rush[30] == 1.0
    assert rush[:30] == sorted(rush[:30]) and rush[0] < 0.01
    assert min(rush[31:]) == pytest.approx(1 / 3, abs=0.01)
    assert all(0 <= v <= 1 for v in rush)


def test_every_profile_is_known() -> None:
    assert PROFILES == ("steady", "ramp", "spike", "morning_rush")
