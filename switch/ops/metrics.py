"""The switch's Prometheus metrics (docs/operations.md lists every one).

Two kinds, chosen for the hot path's sake:

* Histograms and the pays counter are observed where things happen (a terminal
  request answered, a biller call returned, a ledger batch applied, a pay final), in
  plain numbers (switch/ops/series.py: no lock, no label resolution).
* Everything the switch already counts for itself (TerminalStats, the ledger's
  BatcherStatistics, breakers, the notifier, recovery, settlement) is read at scrape
  time by ``StatsCollector``: nothing added to the hot path at all.

Labels are bounded sets only: request type, error code, biller, operation, pay
state. Never a terminal, agent or consumer. Each switch process has its own
registry and its own metrics port (the per-process-port model: Prometheus scrapes
every process; sum() in queries adds them up).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switch.ops.series import Buckets, Counts, families

StatsT = TypeVar("StatsT", covariant=True)

if TYPE_CHECKING:
    from switch.actors.gate import GateStatistics
    from switch.actors.notifier import NotifierStats
    from switch.actors.sessions import BusStats
    from switch.actors.supervisor import SupervisorStatistics
    from switch.actors.terminal import TerminalStats
    from switch.ledger.batcher import BatcherStatistics
    from switch.pays.dayspend import DaySpendStats
    from switch.pays.flow import Biller
    from switch.pays.recovery import RecoveryStatistics
    from switch.settlement.service import SettlementStats

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}
# Why a pay was voided: a fixed set, so a biller's own codes cannot grow the label set.
VOID_REASONS = frozenset(
    {
        "insufficient_funds",
        "expired",
        "bill_already_paid",
        "amount_too_high",
        "amount_too_low",
        "unknown_consumer",
        "not_applied_at_biller",
        "unknown_at_deadline",
        "biller_unavailable",
        "biller_busy",
        "reversed",
        "limit_exceeded",
        "wallet_frozen",
    }
)


class SwitchMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # Observed where things happen: plain numbers (switch/ops/series.py).
        self.request_seconds = Buckets(
            "switch_terminal_request_seconds",
            "Terminal requests, from frame in to answer out, by request type",
            ["type"],
            LATENCY_BUCKETS_S,
        )
        self.biller_call_seconds = Buckets(
            "switch_biller_call_seconds",
            "Calls to billers (after any wait in the biller's queue), by biller and operation",
            ["biller", "operation"],
            LATENCY_BUCKETS_S,
        )
        self.biller_calls = Counts(
            "switch_biller_calls",
            "Calls to billers by outcome (ok, rejected, unavailable, unknown, busy, "
            "breaker_open); status and reverse are the inquiries and reversals",
            ["biller", "operation", "outcome"],
        )
        self.ledger_batch_seconds = Buckets(
            "switch_ledger_batch_seconds",
            "Ledger group commits: one database round trip each",
            [],
            LATENCY_BUCKETS_S,
        )
        self.ledger_batch_size = Buckets(
            "switch_ledger_batch_size", "Requests per ledger group commit", [], BATCH_SIZE_BUCKETS
        )
        self.pays = Counts(
            "switch_pays",
            "Pays that reached their final state, by biller and outcome "
            "(posted, or voided:<reason>)",
            ["biller", "outcome"],
        )
        self.pays_by_channel = Counts(
            "switch_pays_by_channel",
            "Pays that reached their final state, by the way they came in (terminal, "
            "partner) and state (posted, voided)",
            ["channel", "state"],
        )
        self.partner_request_seconds = Buckets(
            "switch_partner_request_seconds",
            "Partner API requests, from request in to answer out, by operation",
            ["operation"],
            LATENCY_BUCKETS_S,
        )
        self.partner_requests = Counts(
            "switch_partner_requests",
            "Partner API requests by operation and answer (ok, or the error code)",
            ["operation", "code"],
        )
        r.register(_Observed(self))
        self.open_pays = Gauge(
            "switch_pays_open", "Pays not yet final, by state (sampled)", ["state"], registry=r
        )
        self.open_pays_oldest = Gauge(
            "switch_pays_open_oldest_seconds",
            "Age of the longest-untouched pay in each non-final state (sampled); "
            "state=reversing is the reversal backlog's age",
            ["state"],
            registry=r,
        )
        self.link_orders_open = Gauge(
            "switch_link_orders_open",
            "Payment-link orders not yet final, by state (sampled); collected, paying and "
            "refunding hold consumers' money",
            ["state"],
            registry=r,
        )
        self.link_orders_oldest = Gauge(
            "switch_link_orders_money_held_oldest_seconds",
            "Age of the oldest order whose collected money is neither paid nor refunded",
            registry=r,
        )
        self.gateway_callbacks = Counter(
            "switch_gateway_callbacks_total",
            "Payment gateway callbacks by what the switch did with them",
            ["outcome"],
            registry=r,
        )
        self.sms_backlog = Gauge(
            "switch_sms_outbox_pending", "SMS waiting to be delivered (sampled)", registry=r
        )
        self.sms_backlog_oldest = Gauge(
            "switch_sms_outbox_oldest_seconds",
            "Age of the oldest SMS waiting (sampled)",
            registry=r,
        )
        self.recon_open = Gauge(
            "switch_recon_open_cases",
            "Unresolved reconciliation cases by kind (sampled)",
            ["kind"],
            registry=r,
        )
        self.recon_open_oldest = Gauge(
            "switch_recon_open_case_oldest_seconds",
            "Age of the oldest unresolved reconciliation case (sampled)",
            registry=r,
        )
        self.settled_business_date = Gauge(
            "switch_settlement_last_settled_timestamp_seconds",
            "Cut-off time of each biller's latest settled window (sampled)",
            ["biller"],
            registry=r,
        )
        self.recon_last_run = Gauge(
            "switch_recon_last_run_results",
            "Each biller's latest reconciliation run: lines by result (sampled)",
            ["biller", "result"],
            registry=r,
        )
        self.history_months_ready = Gauge(
            "switch_history_months_ready",
            "Months from this one on whose partitions of pays, transfers and SMS all exist"
            " (sampled; inserts into a month without them fail)",
            registry=r,
        )
        self.sampled_at = Gauge(
            "switch_ops_sampled_timestamp_seconds",
            "When the sampled gauges were last refreshed from the database",
            registry=r,
        )

    def watch(self, live: Callable[[], LiveStats | None]) -> None:
        """Read the switch's own counters at every scrape."""
        self.registry.register(StatsCollector(live))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # -- hooks called where things happen ------------------------------------------

    def observe_request(self, kind: str, seconds: float) -> None:
        self.request_seconds.observe(seconds, kind)

    def observe_partner_request(self, operation: str, code: str, seconds: float) -> None:
        self.partner_request_seconds.observe(seconds, operation)
        self.partner_requests.inc(operation, code)

    def observe_ledger_batch(self, size: int, seconds: float) -> None:
        self.ledger_batch_size.observe(size)
        self.ledger_batch_seconds.observe(seconds)

    def pay_final(
        self, biller_id: str, state: str, error_code: str | None, channel: str = "terminal"
    ) -> None:
        self.pays_by_channel.inc(channel, state)
        if state == "posted":
            outcome = "posted"
        else:
            outcome = f"voided:{error_code if error_code in VOID_REASONS else 'other'}"
        self.pays.inc(biller_id, outcome)

    def biller_call(self, biller_id: str, operation: str) -> BillerCallTimer:
        return BillerCallTimer(self, biller_id, operation)


@dataclass
class BillerCallTimer:
    """``with metrics.biller_call(b, op) as call: ...; call.outcome = "ok"``."""

    metrics: SwitchMetrics
    biller_id: str
    operation: str
    outcome: str = "unknown"
    _started: float = 0.0

    def __enter__(self) -> BillerCallTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        m = self.metrics
        m.biller_call_seconds.observe(
            time.perf_counter() - self._started, self.biller_id, self.operation
        )
        m.biller_calls.inc(self.biller_id, self.operation, self.outcome)


class Statistical(Protocol[StatsT]):
    """Anything that counts for itself: ``statistics()`` returns its counters now (as
    trio's primitives do). Metrics read every part of the switch through this."""

    def statistics(self) -> StatsT: ...


@dataclass
class LiveStats:
    """The parts of the switch whose own counters are read at scrape time."""

    terminals: Statistical[TerminalStats]
    ledger: Statistical[BatcherStatistics]
    billers: Mapping[str, Biller]
    notifier: Statistical[NotifierStats] | None
    recovery: Statistical[RecoveryStatistics]
    settlement: Statistical[SettlementStats]
    day_spend: Statistical[DaySpendStats] | None = None
    supervisor: Statistical[SupervisorStatistics] | None = None
    gate: Statistical[GateStatistics] | None = None
    sessions: Statistical[BusStats] | None = None


class _Observed(Collector):
    def __init__(self, m: SwitchMetrics) -> None:
        self._m = m

    def collect(self) -> Iterator[Metric]:
        m = self._m
        yield from families(
            m.request_seconds,
            m.biller_call_seconds,
            m.biller_calls,
            m.ledger_batch_seconds,
            m.ledger_batch_size,
            m.pays,
            m.pays_by_channel,
            m.partner_request_seconds,
            m.partner_requests,
        )


class StatsCollector(Collector):
    def __init__(self, live: Callable[[], LiveStats | None]) -> None:
        self._live = live

    def collect(self) -> Iterator[Metric]:
        live = self._live()
        if live is None:
            return
        yield from _terminal_metrics(live.terminals.statistics())
        yield from _ledger_metrics(live.ledger.statistics())
        yield from _biller_metrics(live.billers)
        yield from _background_metrics(live)


def _counter(
    name: str, doc: str, labels: list[str], values: Mapping[tuple[str, ...], int]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def _terminal_metrics(stats: TerminalStats) -> Iterator[Metric]:
    requests = {tuple(k.split(":", 1)): v for k, v in stats.requests.items()}
    yield _counter(
        "switch_terminal_requests",
        "Terminal requests by type and outcome (ok, or the error code answered)",
        ["type", "outcome"],
        requests,
    )
    yield _counter(
        "switch_handshake_failures",
        "Connections refused before authentication, by reason (error code)",
        ["reason"],
        {(k,): v for k, v in stats.handshake_failures.items()},
    )
    yield _counter(
        "switch_session_errors",
        "Authenticated sessions closed on a protocol error, by error code",
        ["code"],
        {(k,): v for k, v in stats.refused.items()},
    )
    yield _counter(
        "switch_terminal_connections", "TCP connections accepted", [], {(): stats.connections}
    )
    yield _gauge("switch_terminals_connected", "Terminal connections open now", stats.connected)
    yield _gauge("switch_terminal_sessions", "Authenticated sessions open now", stats.sessions_open)


def _ledger_metrics(s: BatcherStatistics) -> Iterator[Metric]:
    yield _gauge("switch_ledger_queued", "Ledger requests waiting for a batch", s.queued)
    yield _counter("switch_ledger_requests", "Ledger requests applied", [], {(): s.requests})
    yield _counter(
        "switch_ledger_unavailable_batches",
        "Ledger batches the database did not answer",
        [],
        {(): s.unavailable_batches},
    )


def _biller_metrics(billers: Mapping[str, Biller]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "switch_biller_breaker_state",
        "Circuit breaker per biller: 0 closed, 1 half-open (probing), 2 open (refusing)",
        labels=["biller"],
    )
    opened: dict[tuple[str, ...], int] = {}
    for biller_id, biller in sorted(billers.items()):
        if biller.gate is None:
            continue
        stats = biller.gate.statistics()
        state.add_metric([biller_id], BREAKER_VALUE[stats.breaker_state])
        opened[(biller_id,)] = stats.breaker_opened
    yield state
    yield _counter("switch_biller_breaker_opened", "Times each breaker opened", ["biller"], opened)


def _background_metrics(live: LiveStats) -> Iterator[Metric]:
    if live.notifier is not None:
        n = live.notifier.statistics()
        yield _counter("switch_sms_sent", "SMS delivered to the gateway", [], {(): n.sent})
        yield _counter(
            "switch_sms_given_up", "SMS abandoned after max_attempts", [], {(): n.given_up}
        )
    yield _counter(
        "switch_recovery_pays",
        "Pays finished by recovery, by outcome",
        ["outcome"],
        {(k,): v for k, v in live.recovery.statistics().recovered.items()},
    )
    st = live.settlement.statistics()
    yield _counter(
        "switch_settlement_windows",
        "Settlement attempts by outcome (settled; waiting: pays in flight; failed)",
        ["outcome"],
        {("settled",): st.settled, ("waiting",): st.waiting, ("failed",): st.failed},
    )
    yield _counter(
        "switch_recon_deferred",
        "Reconciliations put off because the biller's report could not be had",
        [],
        {(): st.recon_waiting},
    )
    if live.day_spend is not None:
        yield from _day_limit_metrics(live.day_spend.statistics())
    if live.gate is not None:
        gate = live.gate.statistics()
        yield _counter(
            "switch_terminal_connections_refused",
            "Terminal connections closed on arrival: too many from one address, or too "
            "many handshakes pending",
            ["reason"],
            {(r,): n for r, n in gate.refused.items()},
        )
        yield _gauge(
            "switch_terminal_handshakes_pending",
            "Terminal connections still in their handshake",
            gate.pending_handshakes,
        )
    if live.sessions is not None:
        bus = live.sessions.statistics()
        yield _counter(
            "switch_session_events",
            "Terminal session events between switch processes: sent, received, applied "
            "(a session here ended by another process), dropped (queue full, never sent)",
            ["outcome"],
            {("sent",): bus.sent, ("received",): bus.received, ("applied",): bus.applied,
             ("dropped",): bus.dropped},
        )  # fmt: skip
    if live.supervisor is not None:
        restarts = live.supervisor.statistics().restarts
        yield _counter(
            "switch_task_restarts",
            "Long-lived tasks of the switch that failed and were started again, by task",
            ["task"],
            {(task,): n for task, n in restarts.items()},
        )


def _day_limit_metrics(d: DaySpendStats) -> Iterator[Metric]:
    yield _counter(
        "switch_day_limit_pays",
        "New pays checked against their agent's per-day limit, by outcome",
        ["outcome"],
        {("admitted",): d.admitted, ("refused",): d.refused},
    )
    yield _counter(
        "switch_day_limit_postgres_checks",
        "Per-day limits checked in PostgreSQL instead of Redis (no Redis, or it failed)",
        [],
        {(): d.exact_checks},
    )
    yield _counter(
        "switch_day_limit_redis_errors",
        "Redis failures of the per-day counters (the limit then falls back to PostgreSQL)",
        [],
        {(): d.redis_errors},
    )
    yield _counter(
        "switch_day_limit_breaker_opened",
        "Times Redis failed and the per-day limits went to PostgreSQL alone for a while",
        [],
        {(): d.breaker_opened},
    )
    yield _counter(
        "switch_day_limit_reseeds",
        "Per-day counters deleted after a Redis outage, to be seeded again from PostgreSQL",
        [],
        {(): d.reseeds},
    )
