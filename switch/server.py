"""The switch process: database, ledger, billers, and the terminal listener.

``running_switch`` is the whole thing as an async context manager (tests and the demo
use it); ``serve`` adds signal handling for ``switch serve``. Shutdown order: stop
accepting, let every session finish its in-flight requests (bounded by
``shutdown_grace_s``) and tell it ``shutting_down``, then stop the ledger (which
drains its queue) and the database pool.
"""

from __future__ import annotations

import errno
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg
import trio

from switch.actors.biller import open_billers
from switch.actors.notifier import Notifier
from switch.actors.sessions import SessionBus
from switch.actors.supervisor import Supervisor
from switch.actors.terminal import TerminalDeps, TerminalSession
from switch.admin.auth import Auth
from switch.admin.complaints import Escalator
from switch.admin.throttle import Throttle
from switch.bulk import tariffs
from switch.bulk.service import BulkService
from switch.catalogue import entries as catalogue
from switch.catalogue import store as catalogue_store
from switch.catalogue.billrefs import BillRefs
from switch.config import Config
from switch.consumers.access import ConsumerAccess
from switch.db.database import Database
from switch.db.replica import replica_reads
from switch.history.partitions import keep_made
from switch.imports.jobs import ImportJobs, engine_options
from switch.ledger import Ledger
from switch.links.service import LinkService
from switch.ops.gc import tune_gc
from switch.ops.http import OpsApp, serve_asgi
from switch.ops.logs import pay_fields
from switch.ops.metrics import LiveStats, SwitchMetrics
from switch.ops.sampler import Sampler
from switch.ops.steps import StepCounter
from switch.pays.dayspend import DaySpend
from switch.pays.flow import Biller, PayFlow
from switch.pays.limits import WalletPolicy
from switch.pays.recovery import Recovery
from switch.pays.service import TerminalService
from switch.pays.store import Pay, PayStore
from switch.protocols.billers.base import Connector
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.identity import identity_path, load_or_create
from switch.receipts.links import ReceiptLinks, pay_links
from switch.settlement.recon import report_connector
from switch.settlement.service import Settlement, settlement_for
from switch.sms import load_template_ids

log = logging.getLogger("switch.server")
GONE_BEFORE_ACCEPT = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}
pay_log = logging.getLogger("switch.pays")
READY_DB_TIMEOUT_S = 1.0


@dataclass
class RunningSwitch:
    port: int
    deps: TerminalDeps
    ledger: Ledger
    db: Database
    billers: Mapping[str, Biller]
    notifier: Notifier | None
    recovery: Recovery
    settlement: Settlement
    metrics: SwitchMetrics
    ops_port: int | None  # /metrics, /healthz, /readyz; None when [ops] enabled = false
    admin_port: int | None  # the back-office API; None when [admin] enabled = false
    policy: WalletPolicy
    supervisor: Supervisor
    partner_port: int | None = None  # the partner API; None when [partners] enabled = false


@asynccontextmanager
async def running_switch(
    cfg: Config, database_url: str, redis_url: str | None = None
) -> AsyncIterator[RunningSwitch]:
    """The whole switch on these servers; without ``redis_url`` the per-day wallet
    limits are counted in PostgreSQL (a query per pay) instead of in Redis."""
    identity = load_or_create(identity_path(cfg))
    metrics = SwitchMetrics()
    async with (
        Database.open(database_url) as db,
        Ledger.open(db, cfg.ledger) as ledger,
        trio.open_nursery() as pays,
    ):
        ledger.on_batch = metrics.observe_ledger_batch
        supervisor = Supervisor(pays)
        billers = await open_billers(cfg.billers, ledger, metrics)
        store, flow, recovery, policy = await _start_pays(
            cfg, pays, supervisor, db, ledger, billers, metrics, redis_url
        )
        report_connectors = _report_connectors(cfg, billers)
        settlement, notifier = _start_background(cfg, supervisor, db, report_connectors)
        billers_catalogue = catalogue.build(cfg.billers)
        await catalogue_store.save(db, billers_catalogue)  # what the back office reads
        service = TerminalService(
            store,
            flow,
            billers,
            cfg.terminals.answer_deadline_s,
            policy=policy,
            catalogue=billers_catalogue,
            bill_refs=BillRefs(identity.private_bytes_raw()),
        )
        deps = TerminalDeps(identity, cfg.terminals, db, service, metrics=metrics)
        # Newer sessions and cuts, told to and heard from the other switch processes.
        bus = SessionBus(db, deps.registry, store.process_id)
        supervisor.start("sessions bus", bus.run)
        live = LiveStats(
            deps,
            ledger,
            billers,
            notifier,
            recovery,
            settlement,
            policy.day_spend,
            supervisor,
            deps.gate,
            bus,
        )
        metrics.watch(lambda: live)
        steps = _count_steps(metrics) if cfg.ops.count_scheduler_steps else None
        try:
            async with _terminal_listener(cfg, deps) as (port, accepting):
                ops_port = await _start_ops(cfg, pays, supervisor, db, metrics, accepting)
                admin_port = await _start_admin(
                    cfg,
                    pays,
                    supervisor,
                    db,
                    ledger,
                    deps,
                    policy,
                    settlement,
                    port,
                    redis_url,
                    billers,
                )
                partner_port = await _start_partners(
                    cfg, pays, db, ledger, service, policy, metrics
                )
                yield RunningSwitch(
                    port,
                    deps,
                    ledger,
                    db,
                    billers,
                    notifier,
                    recovery,
                    settlement,
                    metrics,
                    ops_port,
                    admin_port,
                    policy,
                    supervisor,
                    partner_port,
                )
        finally:
            # The sessions are drained now (the listener's exit): pays still being
            # driven had their grace period; what is left stops at a durable state
            # and resumes on restart.
            pays.cancel_scope.cancel()
            if steps is not None:
                trio.lowlevel.remove_instrument(steps)
    for connector in [b.connector for b in billers.values()] + list(report_connectors.values()):
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await connector.aclose()


def _count_steps(metrics: SwitchMetrics) -> StepCounter:
    """Trio's scheduler passes counted on /metrics, for the benchmarks."""
    counter = StepCounter()
    trio.lowlevel.add_instrument(counter)
    metrics.registry.register(counter)
    return counter


async def _start_pays(
    cfg: Config,
    nursery: trio.Nursery,
    supervisor: Supervisor,
    db: Database,
    ledger: Ledger,
    billers: Mapping[str, Biller],
    metrics: SwitchMetrics,
    redis_url: str | None,
) -> tuple[PayStore, PayFlow, Recovery, WalletPolicy]:
    """The pay path's parts: records, wallet limits, the flow, recovery."""
    store = PayStore(db, lease_s=cfg.pays.recovery_idle_s)
    await nursery.start(store.run)
    day_spend = DaySpend(db, redis_url)
    await nursery.start(day_spend.run)
    policy = WalletPolicy(db, cfg.admin, day_spend)
    await policy.refresh()
    supervisor.start("wallet limits", policy.run)
    # Before recovery starts: every pay it finishes is counted and gives back.
    store.on_final = _on_final(metrics, policy)
    store.on_ledger_batch = metrics.observe_ledger_batch
    flow = PayFlow(
        store,
        ledger,
        cfg.pays.hold_timeout_s,
        background=nursery,
        max_driving=cfg.pays.max_driving,
    )
    recovery = Recovery(store, flow, ledger, billers, cfg.pays)
    supervisor.start("recovery", recovery.run)
    return store, flow, recovery, policy


def _start_background(
    cfg: Config,
    supervisor: Supervisor,
    db: Database,
    report_connectors: Mapping[str, Connector],
) -> tuple[Settlement, Notifier | None]:
    """The switch's own periodic work: next months' partitions, settlement, the SMS
    notifier."""
    supervisor.start("history partitions", partial(keep_made, db))
    settlement = settlement_for(cfg, db, report_connectors)
    if cfg.settlement.auto_close:
        supervisor.start("settlement", settlement.run)
    if cfg.sms.templates_file:
        load_template_ids(cfg.sms.templates_file)
    notifier = Notifier(db, cfg.sms) if cfg.sms.enabled else None
    if notifier is not None:
        supervisor.start("sms notifier", notifier.run)
    return settlement, notifier


@asynccontextmanager
async def _terminal_listener(
    cfg: Config, deps: TerminalDeps
) -> AsyncIterator[tuple[int, Callable[[], bool]]]:
    """Accept terminals until the block ends; then stop accepting, let every session
    finish its in-flight requests (bounded by ``shutdown_grace_s``), and close them.
    Yields the bound port and a "still accepting" probe for readiness."""
    listeners = await _open_listeners(cfg)
    port = listeners[0].socket.getsockname()[1]
    limiter = trio.CapacityLimiter(cfg.terminals.max_connections)
    accept_scope = trio.CancelScope()

    async def handle(stream: trio.SocketStream, ip: str) -> None:
        session = TerminalSession(stream, deps, ip)
        try:
            async with limiter:
                await session.run()
        finally:
            deps.gate.closed(ip, authenticated=session.terminal_id is not None)

    async with trio.open_nursery() as nursery:

        async def accept() -> None:
            with accept_scope:
                async with trio.open_nursery() as loops:
                    for listener in listeners:
                        loops.start_soon(_accept_loop, listener, deps, handle, nursery)

        nursery.start_soon(accept)
        log.info("terminal listener on %s:%d", cfg.terminals.host, port)
        try:
            yield port, lambda: not accept_scope.cancel_called
        finally:
            accept_scope.cancel()  # stop accepting; sessions go on
            for session in list(deps.registry.sessions.values()):
                session.drain()
            with trio.move_on_after(cfg.terminals.shutdown_grace_s + 2):
                while deps.stats.connected:  # noqa: ASYNC110 (bounded wait for sessions)
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()


async def _open_listeners(cfg: Config) -> list[trio.SocketListener]:
    """The terminal port; shared with other switch processes when ``reuse_port``."""
    t = cfg.terminals
    if not t.reuse_port:
        return await trio.open_tcp_listeners(t.port, host=t.host)
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    try:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEPORT, 1)
        await sock.bind((t.host, t.port))
        sock.listen(4096)
    except BaseException:
        sock.close()
        raise
    return [trio.SocketListener(sock)]


async def _accept_loop(
    listener: trio.SocketListener,
    deps: TerminalDeps,
    handle: Callable[[trio.SocketStream, str], Awaitable[None]],
    sessions: trio.Nursery,
) -> None:
    """Accept connections; one over the gate's bounds is closed here, at once and
    unanswered, without a task of its own (a flood that reconnects as fast as it is
    closed costs an accept and a close each, nothing more). Closes the listener when
    cancelled: the port stops taking connections."""
    async with listener:
        while True:
            try:
                # The raw socket first: its address comes with it, and a refused one
                # is closed before any stream (and its socket options) is made.
                sock, address = await listener.socket.accept()
            except OSError as exc:
                if exc.errno in GONE_BEFORE_ACCEPT:
                    continue  # reset while it waited in the queue: nothing to do
                # Out of file descriptors or memory: wait a little, then go on.
                log.warning("terminal accept failed: %r", exc)
                await trio.sleep(0.1)
                continue
            ip = str(address[0])
            if deps.gate.admit(ip) is not None:
                sock.close()
                continue
            sessions.start_soon(handle, trio.SocketStream(sock), ip)


async def _start_ops(
    cfg: Config,
    nursery: trio.Nursery,
    supervisor: Supervisor,
    db: Database,
    metrics: SwitchMetrics,
    accepting: Callable[[], bool],
) -> int | None:
    """The database-derived gauges, and the /metrics, /healthz, /readyz endpoint."""
    if not cfg.ops.enabled:
        return None
    supervisor.start("ops sampling", Sampler(db, metrics, cfg.ops.sample_interval_s).run)

    async def not_ready() -> list[str]:
        reasons = [] if accepting() else ["not accepting terminals (starting or draining)"]
        with trio.move_on_after(READY_DB_TIMEOUT_S):
            try:
                await db.fetchval("SELECT 1")
                return reasons
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                return [*reasons, f"database: {exc}"]
        return [*reasons, f"database did not answer within {READY_DB_TIMEOUT_S} s"]

    app = OpsApp(metrics, not_ready)
    port: int = await nursery.start(serve_asgi, app, cfg.ops.host, cfg.ops.metrics_port)
    log.info("metrics, health and readiness on http://%s:%d", cfg.ops.host, port)
    return port


async def _start_admin(
    cfg: Config,
    nursery: trio.Nursery,
    supervisor: Supervisor,
    db: Database,
    ledger: Ledger,
    deps: TerminalDeps,
    policy: WalletPolicy,
    settlement: Settlement,
    terminal_port: int,
    redis_url: str | None,
    billers: Mapping[str, Biller],
) -> int | None:
    """The back-office API (docs/admin-api.md) and the complaints' escalator."""
    if not cfg.admin.enabled:
        return None
    from switch.admin.app import AdminDeps, create_app  # FastAPI: only when served

    supervisor.start("complaint escalation", Escalator(db, cfg.admin).run)
    throttle = Throttle(db, redis_url)  # sign-in windows, shared by every process
    await nursery.start(throttle.run)
    documents = (
        Path(cfg.admin.documents_dir)
        if cfg.admin.documents_dir
        else cfg.services.resolved_data_dir() / "documents"
    )
    reads = await nursery.start(_replica_reads, cfg.services.replica_url, db)
    admin = AdminDeps(
        db,
        ledger,
        cfg,
        Auth(db, cfg.admin, throttle),
        policy,
        public_bytes(deps.identity),
        f"{cfg.terminals.host}:{terminal_port}",
        documents,
        settlement,
        deps.registry,
        reads,
        billers,
    )
    # Set before the API serves (payment links wait for its address, below).
    admin.service = deps.service
    admin.imports = ImportJobs(db, documents / "imports", engine_options(cfg))
    supervisor.start("imports", admin.imports.run)
    if cfg.consumers.enabled:
        admin.consumers = ConsumerAccess(db, deps.identity.private_bytes_raw(), cfg.consumers)
    app = create_app(admin)
    port: int = await nursery.start(serve_asgi, app, cfg.admin.host, cfg.admin.port)
    # Receipt links name this API: its public address, or where it listens.
    links = ReceiptLinks(
        deps.identity.private_bytes_raw(), cfg.admin.public_url or f"http://{cfg.admin.host}:{port}"
    )
    admin.receipt_links = links
    deps.service.store.receipt_url = links.url  # every posted pay's SMS carries its link
    if cfg.bulk.enabled:
        admin.bulk = _start_bulk(cfg, supervisor, db, deps)
    if cfg.gateway.enabled:
        admin.links = await _start_links(cfg, supervisor, db, ledger, deps, links.base_url)
        if deps.metrics is not None:
            callbacks = deps.metrics.gateway_callbacks
            admin.links.on_callback = lambda outcome: callbacks.labels(outcome).inc()
    log.info("admin API on http://%s:%d/v1/docs", cfg.admin.host, port)
    return port


def _start_bulk(
    cfg: Config, supervisor: Supervisor, db: Database, deps: TerminalDeps
) -> BulkService:
    """Institutional bill payment (docs/bulk-payments.md): its pay runs, supervised."""
    files = [Path(p) for p in cfg.bulk.tariffs_files] or None
    service = BulkService(db, deps.service, cfg.bulk, tariffs.load(files))
    supervisor.start("bulk pay runs", service.run)
    if cfg.bulk.fetch_at:
        supervisor.start("bulk daily fetch", service.daily)
    return service


async def _start_links(
    cfg: Config,
    supervisor: Supervisor,
    db: Database,
    ledger: Ledger,
    deps: TerminalDeps,
    base_url: str,
) -> LinkService:
    """Payment links (docs/payment-links.md): their driver, under the supervisor."""
    service = LinkService(
        db,
        ledger,
        deps.service,
        cfg.gateway,
        pay_links(deps.identity.private_bytes_raw(), base_url),
        f"{base_url}/v1/gateway/callback",
    )
    await service.start()
    supervisor.start("payment links", service.run)
    return service


async def _start_partners(
    cfg: Config,
    nursery: trio.Nursery,
    db: Database,
    ledger: Ledger,
    service: TerminalService,
    policy: WalletPolicy,
    metrics: SwitchMetrics,
) -> int | None:
    """The partner API (docs/partner-api.md): banks and aggregators, signed requests."""
    if not cfg.partners.enabled:
        return None
    from switch.partners.api import PartnerDeps, create_partner_app  # FastAPI: when served
    from switch.partners.guard import Guard

    guard = Guard(db, cfg.partners)
    await nursery.start(guard.run)
    deps = PartnerDeps(service, guard, db, ledger, policy, cfg.admin, metrics)
    app = create_partner_app(deps)
    port: int = await nursery.start(serve_asgi, app, cfg.partners.host, cfg.partners.port)
    log.info("partner API on http://%s:%d/partner/v1", cfg.partners.host, port)
    return port


def _on_final(metrics: SwitchMetrics, policy: WalletPolicy) -> Callable[[Pay], None]:
    def final(pay: Pay) -> None:
        metrics.pay_final(pay.biller_id, pay.state.value, pay.error_code, pay.channel)
        policy.pay_final(pay)
        if pay_log.isEnabledFor(logging.DEBUG):
            pay_log.debug("pay %s", pay.state.value, extra=pay_fields(pay))

    return final


def _report_connectors(cfg: Config, billers: Mapping[str, Biller]) -> dict[str, Connector]:
    """Connections for billers' daily reports; a stub biller's books live in its one
    instance, so it answers through the pay path's actor."""
    return {
        b.id: billers[b.id].connector
        if b.connector == "stub"
        else report_connector(b, cfg.settlement)
        for b in cfg.billers
    }


async def _replica_reads(
    url: str, primary: Database, task_status: trio.TaskStatus[Database] = trio.TASK_STATUS_IGNORED
) -> None:
    """Reads for the back office on the standby (or the primary), open until cancelled."""
    async with replica_reads(url, primary) as reads:
        task_status.started(reads)
        await trio.sleep_forever()


async def serve(cfg: Config, database_url: str, redis_url: str | None = None) -> None:
    """``switch serve``: run until SIGINT or SIGTERM, then shut down cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running_switch(cfg, database_url, redis_url) as sw:
            tune_gc(cfg.ops.gc_gen0_threshold, cfg.ops.gc_freeze_after_start)
            if sw.admin_port is not None:
                print(
                    f"switch admin API on http://{cfg.admin.host}:{sw.admin_port}/v1/docs",
                    flush=True,
                )
            if sw.partner_port is not None:
                print(
                    f"switch partner API on http://{cfg.partners.host}:{sw.partner_port}"
                    "/partner/v1",
                    flush=True,
                )
            if sw.ops_port is not None:
                print(f"switch metrics on http://{cfg.ops.host}:{sw.ops_port}/metrics", flush=True)
            print(f"switch serving terminals on {cfg.terminals.host}:{sw.port}", flush=True)
            async for signum in signals:
                print(f"{signal.Signals(signum).name}: shutting down", flush=True)
                break
    print("switch stopped", flush=True)
