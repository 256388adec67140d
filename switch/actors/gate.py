"""The terminal port's door: how many connections one address may hold, and how many
may be waiting in their handshake, before new ones are closed on arrival.

A flood of sockets that connect and never finish a handshake (5,000 once pushed a real
terminal's handshake p99 from 12 ms to 2.8 s) costs the switch a task, a buffer and a
deadline each. The gate bounds that work:

- at most ``max_connections_per_ip`` open connections from one address (generous:
  terminals on a mobile network share their carrier's addresses);
- at most ``connect_burst_per_ip`` new connections from one address at once, then
  ``connect_rate_per_ip_per_s`` (a token bucket): a flood whose silent sockets time out
  and reconnect at once is held to that rate, and a refusal costs an accept and a
  close, nothing more (measured: 5,000 reconnecting sockets from 20 addresses opened
  2,400 connections a second and held the switch's event loop at 90 %);
- at most ``max_handshakes_per_ip`` of them still in their handshake (a real terminal
  finishes its handshake in milliseconds: a flood from one address is held to this
  many, while terminals elsewhere are not touched);
- while more than ``busy_handshakes`` are pending from all addresses together (a flood
  from many), a new connection gets ``busy_handshake_timeout_s`` for its handshake
  instead of ``handshake_timeout_s``: a silent socket gives its place back sooner.

A connection over a bound is closed at once, without a word (a flood is not answered),
and counted; a terminal reconnects as it does after any lost connection.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from switch.config import TerminalsConfig

MAX_BUCKETS = 100_000  # addresses whose connection rate is remembered


@dataclass
class GateStatistics:
    pending_handshakes: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # reason -> connections closed


class ConnectionGate:
    def __init__(self, cfg: TerminalsConfig) -> None:
        self._cfg = cfg
        self._per_ip: Counter[str] = Counter()
        self._pending_per_ip: Counter[str] = Counter()
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, at)
        self._stats = GateStatistics()
        self._spread = random.Random()  # not a secret: only spreads deadlines

    def statistics(self) -> GateStatistics:
        return self._stats

    def admit(self, ip: str) -> str | None:
        """Let a new connection from ``ip`` in (None: it counts as pending) or say why
        not: "rate_per_ip", "per_ip" (connections) or "handshakes_per_ip"."""
        if not self._take_token(ip):
            reason = "rate_per_ip"
        elif self._per_ip[ip] >= self._cfg.max_connections_per_ip:
            reason = "per_ip"
        elif self._pending_per_ip[ip] >= self._cfg.max_handshakes_per_ip:
            reason = "handshakes_per_ip"
        else:
            self._per_ip[ip] += 1
            self._pending_per_ip[ip] += 1
            self._stats.pending_handshakes += 1
            return None
        self._stats.refused[reason] += 1
        return reason

    def _take_token(self, ip: str) -> bool:
        cfg, now = self._cfg, time.monotonic()
        burst = float(cfg.connect_burst_per_ip)
        tokens, at = self._buckets.get(ip, (burst, now))
        tokens = min(burst, tokens + (now - at) * cfg.connect_rate_per_ip_per_s)
        if len(self._buckets) >= MAX_BUCKETS and ip not in self._buckets:
            self._forget_full_buckets(now)
        if tokens < 1:
            self._buckets[ip] = (tokens, now)
            return False
        self._buckets[ip] = (tokens - 1, now)
        return True

    def _forget_full_buckets(self, now: float) -> None:
        """Bounded memory: an address whose bucket has refilled is as good as new."""
        rate, burst = self._cfg.connect_rate_per_ip_per_s, float(self._cfg.connect_burst_per_ip)
        self._buckets = {
            ip: (tokens, at)
            for ip, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * rate < burst
        }
        if len(self._buckets) >= MAX_BUCKETS:  # all of them busy: start again
            self._buckets.clear()

    def handshake_timeout_s(self) -> float:
        """The handshake deadline for a connection arriving now, spread over its last
        quarter: a flood opened at one instant does not time out at one instant, so
        its reconnections do not arrive as one wave that every real handshake waits
        behind."""
        timeout_s = self._cfg.handshake_timeout_s
        if self._stats.pending_handshakes > self._cfg.busy_handshakes:
            timeout_s = min(self._cfg.busy_handshake_timeout_s, timeout_s)
        return timeout_s * self._spread.uniform(0.75, 1.0)

    def authenticated(self, ip: str) -> None:
        """A connection from ``ip`` admitted by ``admit`` finished its handshake."""
        self._stats.pending_handshakes -= 1
        _down(self._pending_per_ip, ip)

    def closed(self, ip: str, authenticated: bool) -> None:
        """A connection admitted by ``admit`` ended (after its handshake or not)."""
        if not authenticated:
            self._stats.pending_handshakes -= 1
            _down(self._pending_per_ip, ip)
        _down(self._per_ip, ip)


def _down(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
