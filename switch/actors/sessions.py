"""Live terminal sessions: one per terminal, the newest wins, across every switch
process.

Each process keeps its own sessions in a ``SessionRegistry``. A terminal that opens
a newer session ends its older one at once when both are in the same process. Behind
HAProxy or with ``--workers``, the older one may be in another process (a terminal
whose link dropped silently reconnects, and lands elsewhere), and a block or a key
rotation made by the back office in one process must cut the terminal's session
wherever it is. So every process tells the others through PostgreSQL's LISTEN/NOTIFY
(every process has the database; a notification reaches every listener of the
channel, on every node): a new session (terminal, when it started, which process),
a terminal cut (terminal, code), an agent cut. Each process applies what it hears to
its own sessions; what it sent itself it has already applied.

"Newest" is by wall-clock start time in nanoseconds, the process id breaking ties:
nodes' clocks agree to milliseconds (NTP), far less than a terminal takes to
reconnect.

What a process misses while its listening connection is down (the database away, or
the moments its listener takes to reconnect after a failover) is not replayed: an
older session it should have ended lives on until its idle timeout; a session whose
terminal was blocked meanwhile can go on paying until then (its next handshake is
refused whatever happens). The log says when the listener is back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import trio

from switch.db.database import Database
from switch.protocols.terminal.errors import ErrorCode

log = logging.getLogger("switch.terminal")
CHANNEL = "switch_sessions"
MAX_QUEUED = 10_000  # events waiting to be sent; beyond it they are dropped (counted)
MAX_BATCH = 200  # events per NOTIFY statement
MAX_PAYLOAD_CHARS = 7_000  # PostgreSQL's limit is 8,000 bytes


class Session(Protocol):
    agent_id: str | None

    def replace(self) -> None: ...
    def end(self, code: ErrorCode) -> None: ...
    def drain(self) -> None: ...


@dataclass
class BusStats:
    sent: int = 0
    received: int = 0
    applied: int = 0  # sessions ended here because of another process
    dropped: int = 0  # the queue was full: those events were never sent
    reconnects: int = 0


class SessionRegistry:
    """Live authenticated sessions of this process by terminal id: one per terminal,
    newest wins. ``publish`` (the bus, once it runs) tells the other processes."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._started_ns: dict[str, tuple[int, str]] = {}
        self.publish: Callable[[dict[str, Any]], None] = lambda event: None
        self.process = ""

    def register(self, terminal_id: str, session: Session) -> None:
        old = self.sessions.get(terminal_id)
        started = (time.time_ns(), self.process)
        self.sessions[terminal_id] = session
        self._started_ns[terminal_id] = started
        if old is not None:
            old.replace()
        self.publish({"k": "session", "id": terminal_id, "at": started[0]})

    def unregister(self, terminal_id: str, session: Session) -> None:
        if self.sessions.get(terminal_id) is session:
            del self.sessions[terminal_id]
            del self._started_ns[terminal_id]

    def end_terminal(self, terminal_id: str, code: ErrorCode) -> None:
        """Cut a terminal's live session (blocked, key rotated), in every process:
        it must handshake again."""
        self._end_terminal(terminal_id, code)
        self.publish({"k": "terminal", "id": terminal_id, "c": code.value})

    def end_agent(self, agent_id: str) -> None:
        """Cut every session of an agent (blocked), in every process."""
        self._end_agent(agent_id)
        self.publish({"k": "agent", "id": agent_id})

    def apply(self, event: dict[str, Any], sender: str) -> bool:
        """Another process's event; whether it ended a session here."""
        kind, key = event.get("k"), str(event.get("id", ""))
        if kind == "session":
            mine = self._started_ns.get(key)
            if mine is not None and mine < (int(event.get("at", 0)), sender):
                self.sessions[key].replace()
                return True
            return False
        if kind == "terminal":
            return self._end_terminal(key, ErrorCode(event.get("c", "session_replaced")))
        if kind == "agent":
            return self._end_agent(key)
        return False

    def _end_terminal(self, terminal_id: str, code: ErrorCode) -> bool:
        session = self.sessions.get(terminal_id)
        if session is not None:
            session.end(code)
        return session is not None

    def _end_agent(self, agent_id: str) -> bool:
        ended = False
        for session in list(self.sessions.values()):
            if session.agent_id == agent_id:
                session.end(ErrorCode.AGENT_BLOCKED)
                ended = True
        return ended


class SessionBus:
    """Carries ``SessionRegistry`` events between processes over LISTEN/NOTIFY."""

    def __init__(self, db: Database, registry: SessionRegistry, process: str) -> None:
        self._db = db
        self._registry = registry
        self._process = process
        self._send, self._queue = trio.open_memory_channel[dict[str, Any]](MAX_QUEUED)
        self.stats = BusStats()
        registry.process = process
        registry.publish = self._enqueue

    def statistics(self) -> BusStats:
        return self.stats

    def _enqueue(self, event: dict[str, Any]) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.stats.dropped += 1

    async def run(self) -> None:
        """Listen and send until cancelled. Raises when the listening connection is
        lost (the supervisor starts it again, after a backoff)."""
        lost = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def heard(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
            token.run_sync_soon(self._heard, str(payload))

        def closed(_conn: object) -> None:
            token.run_sync_soon(lost.set)

        async def listen() -> asyncpg.Connection:
            conn = await asyncpg.connect(self._db.url)
            conn.add_termination_listener(closed)
            await conn.add_listener(CHANNEL, heard)
            return conn

        conn = await self._db.bridge.run(listen())
        if self.stats.reconnects:
            log.info("sessions of other processes heard again (missed meanwhile: not replayed)")
        self.stats.reconnects += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_loop)
                await lost.wait()
                raise ConnectionError("the sessions' listening connection was lost")
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await self._db.bridge.run(conn.close(timeout=1))

    def _heard(self, payload: str) -> None:
        self.stats.received += 1
        try:
            message = json.loads(payload)
            sender = str(message["p"])
            events = list(message["e"])
        except (ValueError, KeyError, TypeError):
            log.warning("a sessions notification that is not ours: %.100r", payload)
            return
        if sender == self._process:
            return
        for event in events:
            if isinstance(event, dict) and self._registry.apply(event, sender):
                self.stats.applied += 1

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._queue.receive()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.receive_nowait())
                except trio.WouldBlock:
                    break
            payloads = _payloads(self._process, batch)
            with trio.fail_after(10):
                await self._db.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, payloads
                )
            self.stats.sent += len(batch)


def _payloads(process: str, events: list[dict[str, Any]]) -> list[str]:
    """Events packed into as few notifications as fit PostgreSQL's payload limit."""
    out: list[str] = []
    chunk: list[str] = []
    size = 0
    for event in events:
        text = json.dumps(event, separators=(",", ":"))
        if chunk and size + len(text) + 1 > MAX_PAYLOAD_CHARS - len(process) - 16:
            out.append(_message(process, chunk))
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        out.append(_message(process, chunk))
    return out


def _message(process: str, events: list[str]) -> str:
    return '{"p":' + json.dumps(process) + ',"e":[' + ",".join(events) + "]}"
