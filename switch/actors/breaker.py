"""A circuit breaker: stop calling a biller that keeps failing, try again later.

    closed    --failure ratio over the window >= threshold (and >= min calls)--> open
    open      --after open_s-->                                                   half_open
    half_open --a probe succeeds--> closed;   --a probe fails--> open again

Only transport-level failures count (unreachable, timeout, garbage): a biller that
answers "no" is healthy. While open, callers are refused at once, so a sick biller
costs its callers nothing and the switch's other billers keep their latency.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import trio


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_ratio: float = 0.5
    min_calls: int = 20
    window_s: float = 10.0
    open_s: float = 5.0
    probes: int = 3


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy) -> None:
        self._p = policy
        self.state = BreakerState.CLOSED
        self._calls: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._failures = 0  # of those in _calls: O(1) per call, not a count each time
        self._opened_at = 0.0
        self._half_open_at = 0.0
        self._probes_out = 0
        self.opened = 0  # times it opened

    @property
    def refusing(self) -> bool:
        """Open and still cooling off (a question, not a probe: changes nothing)."""
        return (
            self.state is BreakerState.OPEN
            and trio.current_time() - self._opened_at < self._p.open_s
        )

    def allow(self) -> bool:
        """May a call go out now? (In half-open, only a few probes may.)"""
        now = trio.current_time()
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self._p.open_s:
                return False
            self.state, self._probes_out, self._half_open_at = BreakerState.HALF_OPEN, 0, now
        if self.state is BreakerState.HALF_OPEN:
            if now - self._half_open_at > self._p.open_s:  # probes lost (cancelled): new ones
                self._probes_out, self._half_open_at = 0, now
            if self._probes_out >= self._p.probes:
                return False
            self._probes_out += 1
        return True

    def record(self, failed: bool) -> None:
        now = trio.current_time()
        if self.state is BreakerState.HALF_OPEN:
            if failed:
                self._open(now)
            else:
                self.state = BreakerState.CLOSED
                self._forget()
            return
        calls = self._calls
        calls.append((now, failed))
        self._failures += failed
        while calls and now - calls[0][0] > self._p.window_s:
            self._failures -= calls.popleft()[1]
        if len(calls) > 10 * self._p.min_calls:  # bound memory under heavy load
            self._failures -= calls.popleft()[1]
        assert 0 <= self._failures <= len(calls)
        if len(calls) >= self._p.min_calls and (
            self._failures / len(calls) >= self._p.failure_ratio
        ):
            self._open(now)

    def _forget(self) -> None:
        self._calls.clear()
        self._failures = 0

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = now
        self._forget()
        self.opened += 1
