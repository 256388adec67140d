"""A terminal on a plain blocking socket: the same sans-I/O ClientSession as the trio
e-POS, driven by ``socket`` calls. For load tools that bring their own concurrency
(locust patches sockets with gevent), and for scripts.

One request at a time (a real e-POS waits for its receipt); every call has a deadline
(``timeout_s`` on the socket); a lost connection raises ``TerminalError`` and the
next request reconnects with a fresh handshake.
"""

from __future__ import annotations

import itertools
import socket
from typing import Any

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


class TerminalError(Exception):
    """The connection failed or the switch closed it: ``code`` says why."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class BlockingTerminal:
    def __init__(self, creds: Credentials, timeout_s: float = 10.0) -> None:
        self.creds = creds
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._proto: ClientSession | None = None
        self._rids = itertools.count(1)
        self.handshakes = 0

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send one request; return its answer (error answers included)."""
        if self._sock is None:
            self._connect()
        assert self._sock is not None and self._proto is not None
        rid = next(self._rids)
        try:
            self._sock.sendall(self._proto.send({"type": kind, "rid": rid, **fields}))
            while True:
                msg = self._next_message()
                if msg.fields.get("rid") == rid:
                    return dict(msg.fields)
                if msg.type == "error" and msg.fields.get("rid") is None:
                    raise TerminalError(msg.fields.get("code", "?"), msg.fields.get("message", ""))
        except TerminalError:
            self.close()
            raise
        except (OSError, ProtocolError) as exc:
            self.close()
            raise TerminalError("connection_lost", str(exc)) from exc

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._proto = None

    def _connect(self) -> None:
        host, port = self.creds.host_port
        sock = socket.create_connection((host, port), timeout=self.timeout_s)
        sock.settimeout(self.timeout_s)
        proto = ClientSession(
            self.creds.terminal_id, self.creds.signing_key, self.creds.switch_public_key
        )
        self._sock, self._proto = sock, proto
        try:
            sock.sendall(proto.start())
            event = self._next_event()
            if not isinstance(event, ServerVerified):
                raise TerminalError(_code(event), "handshake refused")
            sock.sendall(event.reply)
            welcome = self._next_event()
            if not isinstance(welcome, Message) or welcome.type != "welcome":
                raise TerminalError(_code(welcome), "not welcomed")
        except (OSError, ProtocolError, TerminalError) as exc:
            self.close()
            if isinstance(exc, TerminalError):
                raise
            raise TerminalError("connection_lost", str(exc)) from exc
        self.handshakes += 1

    def _next_message(self) -> Message:
        event = self._next_event()
        if isinstance(event, ConnectionClosed):
            raise TerminalError("closed", "the switch closed the connection")
        assert isinstance(event, Message)
        return event

    def _next_event(self) -> Any:
        assert self._sock is not None and self._proto is not None
        while True:
            event = self._proto.next_event()
            if event is not NEED_DATA:
                return event
            data = self._sock.recv(READ_BYTES)
            self._proto.receive_data(data)
            if not data:
                return self._proto.next_event()


def _code(event: Any) -> str:
    if isinstance(event, Message):
        return str(event.fields.get("code", event.type))
    return "closed"
