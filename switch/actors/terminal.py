"""One actor per terminal connection: the trio adapter around ``ServerSession``.

It owns the socket and the session's state, and enforces every bound:

- the handshake must finish within ``handshake_timeout_s``;
- a frame, once started, must finish within ``frame_timeout_s`` (a peer dripping one
  byte a second is cut off), and with nothing in flight the session closes after
  ``idle_timeout_s`` without a frame (terminals ping every ``heartbeat_s``);
- at most ``max_in_flight`` requests unanswered (the actor's mailbox) and a token
  bucket of ``rate_per_s``/``rate_burst`` per terminal: beyond either, the request is
  answered at once with an error, never queued;
- one writer at a time (frames carry sequence numbers) and ``send_timeout_s`` per
  write: a terminal that stops reading is disconnected rather than buffered.

A crash in one session is logged and closes that connection only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.actors.gate import ConnectionGate
from switch.actors.sessions import SessionRegistry
from switch.config import TerminalsConfig
from switch.db.batch import BatcherBusy
from switch.db.bridge import BridgeClosed
from switch.db.database import Database
from switch.ledger import LedgerUnavailable
from switch.ops.metrics import SwitchMetrics
from switch.ops.take import take
from switch.pays.service import RequestFailed, TerminalContext, TerminalService
from switch.protocols.sending import send_now
from switch.protocols.terminal.answers import MAX_MESSAGE_CHARS, check_answer
from switch.protocols.terminal.errors import ErrorCode, ProtocolError
from switch.protocols.terminal.session import (
    NEED_DATA,
    Authenticated,
    BadRequest,
    ConnectionClosed,
    HelloReceived,
    Request,
    ServerEvent,
    ServerSession,
    SessionLimits,
)
from switch.provisioning.store import terminal_access

log = logging.getLogger("switch.terminal")
# The database is away: the request is answered ``unavailable`` (retry with the same
# ref), never ``internal_error``, and the session goes on.
# A query the database refused for its content (a DataError, a constraint) is a fault
# of ours, answered internal_error and logged: not this.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    LedgerUnavailable,
    BridgeClosed,
)
READ_BYTES = 64 * 1024


@dataclass
class TerminalStats:
    connections: int = 0
    connected: int = 0
    sessions_open: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # error code -> count
    handshake_failures: dict[str, int] = field(default_factory=dict)  # before auth, by code
    requests: dict[str, int] = field(default_factory=dict)  # "type:outcome" -> count

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate, self._burst = rate_per_s, float(burst)
        self._tokens, self._at = float(burst), trio.current_time()

    def take(self) -> bool:
        now = trio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass
class TerminalDeps:
    identity: Ed25519PrivateKey
    cfg: TerminalsConfig
    db: Database
    service: TerminalService
    registry: SessionRegistry = field(default_factory=SessionRegistry)
    stats: TerminalStats = field(default_factory=TerminalStats)
    metrics: SwitchMetrics = field(default_factory=SwitchMetrics)
    gate: ConnectionGate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = ConnectionGate(self.cfg)

    def statistics(self) -> TerminalStats:
        return self.stats


class TerminalSession:
    def __init__(self, stream: trio.abc.Stream, deps: TerminalDeps, peer_ip: str = "") -> None:
        cfg = deps.cfg
        self.peer_ip = peer_ip  # the gate's key (switch/actors/gate.py)
        self._stream = stream
        self._deps = deps
        self._cfg = cfg
        self._proto = ServerSession(
            deps.identity, SessionLimits(cfg.heartbeat_s, cfg.max_in_flight)
        )
        self._send_lock = trio.Lock()
        self._bucket = TokenBucket(cfg.rate_per_s, cfg.rate_burst)
        self._in_flight = 0
        self._last_frame_at = trio.current_time()
        self._frame_started_at: float | None = None
        self._read_scope = trio.CancelScope()
        self._end_code: ErrorCode | None = None
        self._broken = False  # the socket failed: nothing more can be sent
        self._closing = False  # a connection-level error is pending: send no answers
        self.terminal_id: str | None = None
        self.agent_id: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        stats = self._deps.stats
        stats.connections += 1
        stats.connected += 1
        try:
            await self._run()
        except ProtocolError as exc:
            authenticated = self.terminal_id is not None
            stats.count(
                stats.refused if authenticated else stats.handshake_failures, exc.code.value
            )
            await self._close_with(exc.code, exc.message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except UNAVAILABLE_ERRORS as exc:  # the handshake could not read the terminal's key
            log.warning("terminal session %s: database unavailable: %r", self.terminal_id, exc)
        except Exception:
            log.exception("terminal session %s crashed", self.terminal_id)
        finally:
            stats.connected -= 1
            if self.terminal_id is not None:
                self._deps.registry.unregister(self.terminal_id, self)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._stream.aclose()

    def replace(self) -> None:
        """A newer session of the same terminal took over: end this one."""
        self.end(ErrorCode.SESSION_REPLACED)

    def end(self, code: ErrorCode) -> None:
        """Read no more requests, finish those in flight, then close with ``code``."""
        self._end_code = code
        self._read_scope.cancel()

    def drain(self) -> None:
        """The switch is stopping: read no more requests, finish those in flight."""
        self._end_code = self._end_code or ErrorCode.SHUTTING_DOWN
        self._read_scope.cancel()

    async def _run(self) -> None:
        with trio.move_on_after(self._deps.gate.handshake_timeout_s()) as handshake:
            ctx = await self._handshake()
        if handshake.cancelled_caught:
            raise ProtocolError(ErrorCode.HANDSHAKE_TIMEOUT, "handshake not finished in time")
        if ctx is None:
            return
        self._deps.stats.sessions_open += 1
        failure: ProtocolError | None = None
        try:
            async with trio.open_nursery() as handlers:
                # Failures are caught here, inside the nursery, so they are not
                # wrapped in an ExceptionGroup with the handlers' fates.
                with self._read_scope:
                    try:
                        await self._serve(ctx, handlers)
                    except ProtocolError as exc:
                        failure = exc
                        self._closing = True  # the error frame must be the last one sent
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        self._broken = True
                # In-flight requests finish their durable work (a pay reaches a state
                # it can resume from); the terminal learns outcomes by asking again.
                if not self._broken:
                    with trio.move_on_after(self._cfg.shutdown_grace_s):
                        while self._in_flight:  # noqa: ASYNC110 (bounded by the grace period)
                            await trio.sleep(0.01)
                handlers.cancel_scope.cancel()
        finally:
            self._deps.stats.sessions_open -= 1
        if failure is not None:
            raise failure
        if self._end_code is not None and not self._broken:
            await self._close_with(self._end_code, "")

    async def _handshake(self) -> TerminalContext | None:
        event = await self._next()
        if isinstance(event, ConnectionClosed):
            return None
        assert isinstance(event, HelloReceived)
        access = await terminal_access(self._deps.db, event.terminal_id)
        if access is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TERMINAL, event.terminal_id)
        if access.terminal_state != "active":
            raise ProtocolError(ErrorCode.TERMINAL_BLOCKED, event.terminal_id)
        if access.agent_state != "active":
            raise ProtocolError(ErrorCode.AGENT_BLOCKED, access.agent_id)
        await self._write(self._proto.accept_hello(access.public_key))
        event = await self._next()
        if isinstance(event, ConnectionClosed):
            return None
        assert isinstance(event, Authenticated)
        self.terminal_id, self.agent_id = event.terminal_id, access.agent_id
        self._deps.gate.authenticated(self.peer_ip)  # its place among pending is free
        self._deps.registry.register(event.terminal_id, self)
        welcome = {
            "type": "welcome",
            "terminal": access.terminal_id,
            "agent": access.agent_id,
            "time_ms": int(time.time() * 1000),
        }
        check_answer(welcome)
        await self._write(self._proto.send(welcome))
        return TerminalContext(access.terminal_id, access.agent_id, access.wallet_account_id)

    # -- reading -------------------------------------------------------------------

    async def _serve(self, ctx: TerminalContext, handlers: trio.Nursery) -> None:
        while True:
            event = await self._next()
            if isinstance(event, ConnectionClosed):
                return
            if isinstance(event, BadRequest):
                self._count("bad", event.code.value)
                await self._answer(_error(event.code, event.rid, event.message))
                continue
            assert isinstance(event, Request)
            if event.type == "ping":
                await self._answer({"type": "pong"})
                continue
            if event.type == "bye":
                await self._answer({"type": "bye"})
                return
            rid = event.fields["rid"]
            refusal = self._admit()
            if refusal is not None:
                self._count(event.type, refusal.value)
                await self._answer(_error(refusal, rid))
                continue
            self._in_flight += 1
            handlers.start_soon(self._handle, ctx, event)

    def _admit(self) -> ErrorCode | None:
        if self._in_flight >= self._cfg.max_in_flight:
            return ErrorCode.TOO_MANY_IN_FLIGHT
        if not self._bucket.take():
            return ErrorCode.RATE_LIMITED
        return None

    async def _next(self) -> ServerEvent:
        """The next event, waiting for bytes under the idle and frame deadlines."""
        while True:
            event = self._proto.next_event()
            if event is not NEED_DATA:
                self._last_frame_at = trio.current_time()
                self._frame_started_at = None
                return event
            if self._proto.mid_frame and self._frame_started_at is None:
                self._frame_started_at = trio.current_time()
            deadline, code = self._deadline()
            with trio.move_on_at(deadline):
                data = await self._stream.receive_some(READ_BYTES)
                self._proto.receive_data(data)
                continue
            if self._in_flight and code is ErrorCode.IDLE_TIMEOUT:
                self._last_frame_at = trio.current_time()  # waiting on us, not idle
                continue
            if code is ErrorCode.FRAME_TIMEOUT:
                raise ProtocolError(code, f"frame not finished in {self._cfg.frame_timeout_s:g} s")
            raise ProtocolError(code, f"no frame for {self._cfg.idle_timeout_s:g} s")

    def _deadline(self) -> tuple[float, ErrorCode]:
        idle = self._last_frame_at + self._cfg.idle_timeout_s
        if self._frame_started_at is not None:
            frame = self._frame_started_at + self._cfg.frame_timeout_s
            if frame < idle:
                return frame, ErrorCode.FRAME_TIMEOUT
        return idle, ErrorCode.IDLE_TIMEOUT

    # -- requests ------------------------------------------------------------------

    async def _handle(self, ctx: TerminalContext, req: Request) -> None:
        rid = req.fields["rid"]
        assert req.typed is not None  # ping and bye never get here
        started = time.perf_counter()
        try:
            body = await self._deps.service.handle(ctx, req.typed)
            body["rid"] = rid
            self._count(req.type, "ok")
        except RequestFailed as exc:
            body = _error(exc.code, rid, exc.message)
            self._count(req.type, exc.code.value)
        except BatcherBusy as exc:  # writes queue up faster than the database takes them
            body = _error(ErrorCode.BUSY, rid, str(exc))
            self._count(req.type, ErrorCode.BUSY.value)
        except UNAVAILABLE_ERRORS as exc:
            # The database is away (restarting, failing over): nothing was decided
            # that a retry with the same ref does not find again.
            log.info("%s from %s: database unavailable: %r", req.type, ctx.terminal_id, exc)
            body = _error(ErrorCode.UNAVAILABLE, rid)
            self._count(req.type, ErrorCode.UNAVAILABLE.value)
        except Exception:
            log.exception("request %s from %s failed", req.type, ctx.terminal_id)
            body = _error(ErrorCode.INTERNAL_ERROR, rid)
            self._count(req.type, "internal_error")
        finally:
            self._in_flight -= 1
        try:
            await self._answer(body)
            self._deps.metrics.observe_request(req.type, time.perf_counter() - started)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._broken = True  # the terminal is gone; stop reading too
            self._read_scope.cancel()

    # -- writing -------------------------------------------------------------------

    async def _answer(self, body: dict[str, Any]) -> None:
        if self._closing:
            return
        await take(self._send_lock)  # seq numbers must go out in order
        try:
            try:
                check_answer(body)  # every answer as the protocol defines it, exactly
                wire = self._proto.send(body)
            except (ProtocolError, TypeError, ValueError):  # a bug of ours: never sent
                log.exception("answer %s is not the protocol's", body.get("type"))
                wire = self._proto.send(_error(ErrorCode.INTERNAL_ERROR, body.get("rid")))
            await self._write(wire)
        finally:
            self._send_lock.release()

    async def _write(self, wire: bytes) -> None:
        """Under the send lock (or before any handler runs): what the socket takes at
        once goes now, with no scheduler pass; the rest within ``send_timeout_s``."""
        rest = send_now(self._stream, wire)
        if not rest:
            return
        with trio.move_on_after(self._cfg.send_timeout_s) as cs:
            await self._stream.send_all(rest)
        if cs.cancelled_caught:
            raise trio.BrokenResourceError("terminal stopped reading")

    async def _close_with(self, code: ErrorCode, message: str) -> None:
        """Best effort: tell the terminal why, then the caller closes the socket."""
        if code is ErrorCode.TRUNCATED_FRAME:
            return  # nobody is listening
        # The shield keeps a stopping switch's cancellation out; the timeout inside it
        # still fires, so a terminal that stopped reading cannot hold the close open.
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            try:
                async with self._send_lock:
                    await self._stream.send_all(self._proto.reject(code, message))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    def _count(self, kind: str, outcome: str) -> None:
        self._deps.stats.count(self._deps.stats.requests, f"{kind}:{outcome}")


def _error(code: ErrorCode, rid: int | None, message: str = "") -> dict[str, Any]:
    return {
        "type": "error",
        "code": code.value,
        "message": (message or code.spec.meaning)[:MAX_MESSAGE_CHARS],
        "rid": rid,
    }
