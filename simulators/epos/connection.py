"""One e-POS terminal's connection to the switch: the trio adapter around ClientSession.

    async with connect(creds) as conn:
        bill = await conn.request("fetch_bill", biller="UPPCL", account="1234567890")

Requests are multiplexed by ``rid``; a reader task hands each response to its waiter,
and a heartbeat task pings every ``hb_s`` the switch announced. Every wait has a
deadline: ``RequestTimeout`` if the switch does not answer in ``request_timeout_s``,
``ConnectionLost`` if the connection ends (with the switch's error code if it sent one).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from switch.ops.take import take
from switch.protocols.sending import send_now
from switch.protocols.terminal.errors import ProtocolError
from switch.protocols.terminal.session import (
    NEED_DATA,
    ClientSession,
    ConnectionClosed,
    Message,
    ServerVerified,
)
from switch.provisioning.credentials import Credentials

READ_BYTES = 64 * 1024


class ConnectionLost(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class RequestTimeout(Exception):
    pass


class HandshakeRefused(ConnectionLost):
    pass


class EposConnection:
    def __init__(
        self, creds: Credentials, stream: trio.abc.Stream, request_timeout_s: float
    ) -> None:
        self.creds = creds
        self._stream = stream
        self._proto = ClientSession(creds.terminal_id, creds.signing_key, creds.switch_public_key)
        self._timeout_s = request_timeout_s
        self._rids = itertools.count(1)
        self._waiting: dict[int | str, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self._send_lock = trio.Lock()
        self._lost: ConnectionLost | None = None
        self.heartbeat_s = 30
        self.welcome: dict[str, Any] = {}

    async def handshake(self) -> None:
        try:
            await self._handshake()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            # Reset by the switch (a full door, a restart): a lost connection, as for
            # a real terminal, which reconnects.
            raise HandshakeRefused("closed", f"connection lost during handshake: {exc}") from exc

    async def _handshake(self) -> None:
        await self._stream.send_all(self._proto.start())
        event = await self._next_event()
        if isinstance(event, Message):  # an error instead of server_hello
            raise HandshakeRefused(event.fields.get("code", "?"), event.fields.get("message", ""))
        if not isinstance(event, ServerVerified):
            raise HandshakeRefused("closed", "connection closed during handshake")
        self.heartbeat_s = event.heartbeat_s
        await self._stream.send_all(event.reply)
        event = await self._next_event()
        if not isinstance(event, Message) or event.type != "welcome":
            fields = event.fields if isinstance(event, Message) else {}
            raise HandshakeRefused(fields.get("code", "closed"), fields.get("message", ""))
        self.welcome = event.fields

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer (an error answer is returned too)."""
        rid = next(self._rids)
        return await self._exchange(rid, {"type": kind, "rid": rid, **fields})

    async def ping(self) -> None:
        await self._exchange("pong", {"type": "ping"})

    def seal(self, body: dict[str, Any]) -> bytes:
        """Tests: the next MACed frame for ``body``, without sending it."""
        return self._proto.send(body)

    async def send_raw(self, wire: bytes) -> None:
        """Tests: put arbitrary bytes on the wire."""
        await self._stream.send_all(wire)

    async def _exchange(self, key: int | str, body: dict[str, Any]) -> dict[str, Any]:
        if self._lost is not None:
            raise self._lost
        done = trio.Event()
        slot: list[dict[str, Any]] = []
        self._waiting[key] = (done, slot)
        try:
            await take(self._send_lock)  # free nearly always: no scheduler pass then
            try:
                rest = send_now(self._stream, self._proto.send(body))
                if rest:
                    await self._stream.send_all(rest)
            finally:
                self._send_lock.release()
            with trio.move_on_after(self._timeout_s):
                await done.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionLost("closed", str(exc)) from exc
        finally:
            self._waiting.pop(key, None)
        if slot:
            return slot[0]
        if self._lost is not None:
            raise self._lost
        raise RequestTimeout(f"no answer to {body['type']} in {self._timeout_s}s")

    async def read_loop(self) -> None:
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, ConnectionClosed):
                    raise ConnectionLost("closed", "switch closed the connection")
                assert isinstance(event, Message)
                fields = event.fields
                if event.type == "error" and fields.get("rid") is None:
                    raise ConnectionLost(fields.get("code", "?"), fields.get("message", ""))
                key = "pong" if event.type == "pong" else fields.get("rid")
                waiter = self._waiting.get(key) if key is not None else None
                if waiter is not None:
                    waiter[1].append(fields)
                    waiter[0].set()
        except ConnectionLost as exc:
            self._fail(exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError) as exc:
            self._fail(ConnectionLost("closed", str(exc)))

    def _fail(self, exc: ConnectionLost) -> None:
        self._lost = exc
        for done, _ in self._waiting.values():
            done.set()

    async def heartbeat_loop(self) -> None:
        while self._lost is None:
            await trio.sleep(self.heartbeat_s)
            try:
                await self.ping()
            except (ConnectionLost, RequestTimeout):
                return

    async def _next_event(self) -> Any:
        while True:
            event = self._proto.next_event()
            if event is not NEED_DATA:
                return event
            data = await self._stream.receive_some(READ_BYTES)
            self._proto.receive_data(data)

    @property
    def lost(self) -> ConnectionLost | None:
        return self._lost

    async def aclose(self) -> None:
        await self._stream.aclose()


@asynccontextmanager
async def connect(
    creds: Credentials,
    *,
    request_timeout_s: float = 10.0,
    connect_timeout_s: float = 10.0,
    heartbeat: bool = True,
) -> AsyncIterator[EposConnection]:
    host, port = creds.host_port
    with trio.fail_after(connect_timeout_s):
        stream = await trio.open_tcp_stream(host, port)
        conn = EposConnection(creds, stream, request_timeout_s)
        try:
            await conn.handshake()
        except BaseException:
            await stream.aclose()
            raise
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.read_loop)
            if heartbeat:
                nursery.start_soon(conn.heartbeat_loop)
            try:
                yield conn
            finally:
                # Nothing awaited in here: inside the cancelled scope an await would
                # raise Cancelled, replace the caller's exception, and the nursery
                # would then swallow both.
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The background tasks never raise; an error here is the caller's own, and
        # the caller should see it as raised, not wrapped by our nursery.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    finally:
        with trio.CancelScope(shield=True):
            await conn.aclose()
