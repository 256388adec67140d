"""The switch process: database, ledger, billers, and the terminal listener.

``running_switch`` is the whole thing as an async context manager (tests and the demo
use it); ``serve`` adds signal handling for ``switch serve``. Shutdown order: stop
accepting, let every session finish its in-flight requests (bounded by
``shutdown_grace_s``) and tell it ``shutting_down``, then stop the ledger (which
drains its queue) and the database pool.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from switch.actors.biller import open_billers
from switch.actors.notifier import Notifier
from switch.actors.terminal import TerminalDeps, TerminalSession
from switch.config import Config
from switch.db.database import Database
from switch.ledger import Ledger
from switch.pays.flow import Biller, PayFlow
from switch.pays.recovery import Recovery
from switch.pays.service import TerminalService
from switch.pays.store import PayStore
from switch.provisioning.identity import identity_path, load_or_create
from switch.settlement.recon import Reconciler, report_connector
from switch.settlement.service import Settlement, files_dir

log = logging.getLogger("switch.server")


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


@asynccontextmanager
async def running_switch(cfg: Config, database_url: str) -> AsyncIterator[RunningSwitch]:
    identity = load_or_create(identity_path(cfg))
    async with (
        Database.open(database_url) as db,
        Ledger.open(db, cfg.ledger) as ledger,
        trio.open_nursery() as pays,
    ):
        billers = await open_billers(cfg.billers, ledger)
        store = PayStore(db, lease_s=cfg.pays.recovery_idle_s)
        await pays.start(store.run)
        flow = PayFlow(
            store,
            ledger,
            cfg.pays.hold_timeout_s,
            background=pays,
            max_driving=cfg.pays.max_driving,
        )
        recovery = Recovery(db, store, flow, ledger, billers, cfg.pays)
        pays.start_soon(recovery.run)
        report_connectors = {
            b.id: billers[b.id].connector
            if b.connector == "stub"  # the stub's books live in its one instance
            else report_connector(b, cfg.settlement)
            for b in cfg.billers
        }
        settlement = Settlement(
            db,
            cfg.billers,
            cfg.settlement,
            files_dir(cfg),
            reconciler_for=lambda cal: Reconciler(db, cal, report_connectors),
        )
        if cfg.settlement.auto_close:
            pays.start_soon(settlement.run)
        service = TerminalService(store, flow, billers, cfg.terminals.answer_deadline_s)
        deps = TerminalDeps(identity, cfg.terminals, db, service)
        listeners = await trio.open_tcp_listeners(cfg.terminals.port, host=cfg.terminals.host)
        port = listeners[0].socket.getsockname()[1]
        limiter = trio.CapacityLimiter(cfg.terminals.max_connections)

        async def handle(stream: trio.SocketStream) -> None:
            async with limiter:
                await TerminalSession(stream, deps).run()

        notifier = Notifier(db, cfg.sms) if cfg.sms.enabled else None
        if notifier is not None:
            pays.start_soon(notifier.run)
        async with trio.open_nursery() as nursery:
            accept_scope = trio.CancelScope()

            async def accept() -> None:
                with accept_scope:
                    await trio.serve_listeners(handle, listeners, handler_nursery=nursery)

            nursery.start_soon(accept)
            log.info("terminal listener on %s:%d", cfg.terminals.host, port)
            try:
                yield RunningSwitch(port, deps, ledger, db, billers, notifier, recovery, settlement)
            finally:
                accept_scope.cancel()  # stop accepting; sessions go on
                for session in list(deps.registry.sessions.values()):
                    session.drain()
                with trio.move_on_after(cfg.terminals.shutdown_grace_s + 2):
                    while deps.stats.connected:  # noqa: ASYNC110 (bounded wait for sessions)
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
                # Pays still being driven had the sessions' grace period to finish;
                # what is left stops at a durable state and resumes on restart.
                pays.cancel_scope.cancel()
        for connector in [b.connector for b in billers.values()] + list(report_connectors.values()):
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await connector.aclose()


async def serve(cfg: Config, database_url: str) -> None:
    """``switch serve``: run until SIGINT or SIGTERM, then shut down cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with running_switch(cfg, database_url) as sw:
            print(f"switch serving terminals on {cfg.terminals.host}:{sw.port}", flush=True)
            async for signum in signals:
                print(f"{signal.Signals(signum).name}: shutting down", flush=True)
                break
    print("switch stopped", flush=True)
