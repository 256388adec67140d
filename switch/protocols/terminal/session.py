"""The terminal protocol as two pure state machines: the switch's side and the
terminal's side. Bytes in (``receive_data``), events out (``next_event``); bytes to
send come back from the methods that make them. No sockets, no clocks, no database:
the trio adapters (switch/actors/terminal.py, simulators/epos) supply those.

Server side::

    AWAIT_HELLO --hello--> AWAIT_KEY --accept_hello(pubkey)--> AWAIT_AUTH
        --auth (signature ok)--> OPEN --(requests)...--> CLOSED

Terminal side::

    start() -> AWAIT_SERVER_HELLO --server_hello (signature ok)--> AWAIT_WELCOME
        --welcome--> OPEN

Any ProtocolError from ``next_event`` is final: send ``reject(code)``'s bytes (the
server does) and close. Request-level problems (unknown type, invalid fields) are not
errors of the session: they come out as ``BadRequest`` events, answered with the
request's ``rid``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from switch.protocols.terminal import crypto
from switch.protocols.terminal.channel import Channel
from switch.protocols.terminal.errors import ErrorCode, ProtocolError
from switch.protocols.terminal.framing import MAX_FRAME_BYTES, FrameReader, frame
from switch.protocols.terminal.messages import (
    AUTH,
    HELLO,
    PROTOCOL_VERSION,
    REQUESTS,
    SERVER_HELLO,
    UINT32_MAX,
    decode,
    encode,
)
from switch.protocols.terminal.requests import TerminalRequest, typed


class NeedData(enum.Enum):
    NEED_DATA = "need data"


NEED_DATA = NeedData.NEED_DATA


@dataclass(frozen=True)
class HelloReceived:
    terminal_id: str


@dataclass(frozen=True)
class Authenticated:
    terminal_id: str


@dataclass(frozen=True)
class ServerVerified:
    """Terminal side: the switch proved its identity; send ``reply`` (the auth frame)."""

    reply: bytes
    heartbeat_s: int
    max_in_flight: int
    max_frame: int


@dataclass(frozen=True)
class Request:
    type: str
    fields: dict[str, Any]
    typed: TerminalRequest | None = None  # None for ping and bye


@dataclass(frozen=True)
class BadRequest:
    rid: int | None
    code: ErrorCode
    message: str


@dataclass(frozen=True)
class Message:
    """Terminal side: a message from the switch (welcome, responses, errors)."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionClosed:
    pass


ServerEvent = HelloReceived | Authenticated | Request | BadRequest | ConnectionClosed | NeedData
ClientEvent = ServerVerified | Message | ConnectionClosed | NeedData


@dataclass(frozen=True)
class SessionLimits:
    heartbeat_s: int = 30
    max_in_flight: int = 8
    max_frame: int = MAX_FRAME_BYTES


class ServerState(enum.Enum):
    AWAIT_HELLO = "await_hello"
    AWAIT_KEY = "await_key"
    AWAIT_AUTH = "await_auth"
    OPEN = "open"
    CLOSED = "closed"


class ServerSession:
    """The switch's side of one terminal connection."""

    def __init__(
        self,
        identity: Ed25519PrivateKey,
        limits: SessionLimits | None = None,
        ephemeral: X25519PrivateKey | None = None,
    ) -> None:
        self._identity = identity
        self._limits = limits or SessionLimits()
        # Made when a hello arrives, not before: a connection that never says a word
        # (a flood) costs no key.
        self._eph_key = ephemeral
        self._reader = FrameReader(self._limits.max_frame)
        self.state = ServerState.AWAIT_HELLO
        self.terminal_id: str | None = None
        self._terminal_key: bytes | None = None
        self._client_hello = b""
        self._terminal_eph = b""
        self._server_hello = b""
        self._channel: Channel | None = None

    @property
    def _eph(self) -> X25519PrivateKey:
        if self._eph_key is None:
            self._eph_key = X25519PrivateKey.generate()
        return self._eph_key

    @property
    def mid_frame(self) -> bool:
        """True while part of a frame has arrived (the adapter's frame deadline)."""
        return self._reader.buffered > 0

    def receive_data(self, data: bytes | bytearray) -> None:
        self._reader.feed(data)

    def next_event(self) -> ServerEvent:
        if self.state in (ServerState.AWAIT_KEY, ServerState.CLOSED):
            return NEED_DATA
        wire = self._reader.next_frame()
        if wire is None:
            return ConnectionClosed() if self._reader.at_eof else NEED_DATA
        if self.state is ServerState.AWAIT_HELLO:
            return self._on_hello(wire)
        if self.state is ServerState.AWAIT_AUTH:
            return self._on_auth(wire)
        assert self._channel is not None
        return _request(self._channel.open(wire))

    def accept_hello(self, terminal_public_key: bytes) -> bytes:
        """The terminal is known and allowed: answer with the signed server_hello."""
        assert self.state is ServerState.AWAIT_KEY
        self._terminal_key = terminal_public_key
        eph = crypto.public_bytes(self._eph)
        sig = self._identity.sign(crypto.server_transcript(self._client_hello, eph))
        lim = self._limits
        self._server_hello = frame(
            encode(
                {
                    "type": "server_hello",
                    "v": PROTOCOL_VERSION,
                    "eph": eph,
                    "sig": sig,
                    "hb_s": lim.heartbeat_s,
                    "max_in_flight": lim.max_in_flight,
                    "max_frame": lim.max_frame,
                }
            )
        )
        self.state = ServerState.AWAIT_AUTH
        return self._server_hello

    def send(self, msg: Mapping[str, Any]) -> bytes:
        assert self.state is ServerState.OPEN and self._channel is not None
        return self._channel.seal(msg)

    def reject(self, code: ErrorCode, message: str = "", rid: int | None = None) -> bytes:
        """Bytes of an error frame. A connection-level code also closes the session."""
        body: dict[str, Any] = {
            "type": "error",
            "code": code.value,
            "message": message or code.spec.meaning,
        }
        if rid is not None:
            body["rid"] = rid
        if code.closes:
            channel, self.state = self._channel, ServerState.CLOSED
        else:
            assert self._channel is not None, "request-level errors need an open session"
            channel = self._channel
        return channel.seal(body) if channel is not None else frame(encode(body))

    def _on_hello(self, wire: bytes) -> ServerEvent:
        msg = decode(wire[4:])
        if msg.get("type") != "hello":
            raise ProtocolError(
                ErrorCode.HANDSHAKE_REQUIRED, f"got {msg.get('type')!r} before hello"
            )
        try:
            fields = HELLO.validate(msg)
        except ProtocolError as exc:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, exc.message) from exc
        if fields["v"] != PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION, f"version {fields['v']}")
        self._client_hello = wire
        self._terminal_eph = fields["eph"]
        self.terminal_id = fields["tid"]
        self.state = ServerState.AWAIT_KEY
        return HelloReceived(fields["tid"])

    def _on_auth(self, wire: bytes) -> ServerEvent:
        msg = decode(wire[4:])
        if msg.get("type") != "auth":
            raise ProtocolError(
                ErrorCode.HANDSHAKE_REQUIRED, f"got {msg.get('type')!r} before auth"
            )
        try:
            sig = AUTH.validate(msg)["sig"]
        except ProtocolError as exc:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, exc.message) from exc
        assert self._terminal_key is not None and self.terminal_id is not None
        transcript = crypto.terminal_transcript(self._client_hello, self._server_hello)
        if not crypto.verify(self._terminal_key, sig, transcript):
            raise ProtocolError(ErrorCode.HANDSHAKE_FAILED, "terminal signature does not verify")
        try:
            t2s, s2t = crypto.session_keys(
                self._eph,
                self._terminal_eph,
                self._client_hello,
                self._server_hello,
            )
        except ValueError as exc:
            # A low-order ephemeral key (all-zero shared secret): refused like any other
            # bad handshake, even from a terminal whose signature verified.
            raise ProtocolError(ErrorCode.HANDSHAKE_FAILED, "unusable ephemeral key") from exc
        self._channel = Channel(send_key=s2t, recv_key=t2s)
        self.state = ServerState.OPEN
        return Authenticated(self.terminal_id)


def _request(msg: dict[str, Any]) -> Request | BadRequest:
    rid = msg.get("rid")
    rid = (
        rid
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= UINT32_MAX
        else None
    )
    schema = REQUESTS.get(msg["type"])
    if schema is None:
        return BadRequest(rid, ErrorCode.UNKNOWN_MESSAGE_TYPE, f"unknown type {msg['type']!r}")
    try:
        fields = schema.validate(msg)
        return Request(msg["type"], fields, typed(msg["type"], fields))
    except ProtocolError as exc:
        return BadRequest(rid, exc.code, exc.message)


class ClientState(enum.Enum):
    IDLE = "idle"
    AWAIT_SERVER_HELLO = "await_server_hello"
    AWAIT_WELCOME = "await_welcome"
    OPEN = "open"
    CLOSED = "closed"


class ClientSession:
    """The terminal's side: used by the e-POS simulators and the tests."""

    def __init__(
        self,
        terminal_id: str,
        identity: Ed25519PrivateKey,
        switch_public_key: bytes,
        ephemeral: X25519PrivateKey | None = None,
    ) -> None:
        self.terminal_id = terminal_id
        self._identity = identity
        self._switch_key = switch_public_key
        self._eph = ephemeral or X25519PrivateKey.generate()
        self._reader = FrameReader()
        self.state = ClientState.IDLE
        self._client_hello = b""
        self._channel: Channel | None = None

    def start(self) -> bytes:
        assert self.state is ClientState.IDLE
        eph = crypto.public_bytes(self._eph)
        body = {"type": "hello", "v": PROTOCOL_VERSION, "tid": self.terminal_id, "eph": eph}
        self._client_hello = frame(encode(body))
        self.state = ClientState.AWAIT_SERVER_HELLO
        return self._client_hello

    def receive_data(self, data: bytes | bytearray) -> None:
        self._reader.feed(data)

    def send(self, msg: Mapping[str, Any]) -> bytes:
        assert self.state is ClientState.OPEN and self._channel is not None
        return self._channel.seal(msg)

    def next_event(self) -> ClientEvent:
        wire = self._reader.next_frame()
        if wire is None:
            return ConnectionClosed() if self._reader.at_eof else NEED_DATA
        if self.state is ClientState.AWAIT_SERVER_HELLO:
            return self._on_server_hello(wire)
        assert self._channel is not None
        if self.state is ClientState.AWAIT_WELCOME:
            plain = _plain_error(wire)  # the switch refuses our auth before keys exist
            if plain is not None:
                self.state = ClientState.CLOSED
                return plain
            msg = self._channel.open(wire)
            if msg["type"] == "welcome":
                self.state = ClientState.OPEN
            return Message(msg["type"], msg)
        return (
            Message(msg["type"], msg) if (msg := self._channel.open(wire)) else ConnectionClosed()
        )

    def _on_server_hello(self, wire: bytes) -> ClientEvent:
        msg = decode(wire[4:])
        if msg.get("type") == "error":
            self.state = ClientState.CLOSED
            return Message("error", msg)
        if msg.get("type") != "server_hello":
            raise ProtocolError(
                ErrorCode.HANDSHAKE_FAILED, f"expected server_hello, got {msg.get('type')!r}"
            )
        try:
            f = SERVER_HELLO.validate(msg)
        except ProtocolError as exc:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, exc.message) from exc
        if not crypto.verify(
            self._switch_key, f["sig"], crypto.server_transcript(self._client_hello, f["eph"])
        ):
            raise ProtocolError(ErrorCode.HANDSHAKE_FAILED, "switch signature does not verify")
        t2s, s2t = crypto.session_keys(self._eph, f["eph"], self._client_hello, wire)
        self._channel = Channel(send_key=t2s, recv_key=s2t)
        sig = self._identity.sign(crypto.terminal_transcript(self._client_hello, wire))
        self.state = ClientState.AWAIT_WELCOME
        return ServerVerified(
            frame(encode({"type": "auth", "sig": sig})),
            f["hb_s"],
            f["max_in_flight"],
            f["max_frame"],
        )


def _plain_error(wire: bytes) -> Message | None:
    try:
        msg = decode(wire[4:])
    except ProtocolError:
        return None
    return Message("error", msg) if msg.get("type") == "error" else None
