"""The sans-I/O codec against every kind of bad input, without sockets."""

from __future__ import annotations

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.protocols.terminal import crypto
from switch.protocols.terminal.errors import ErrorCode, ProtocolError
from switch.protocols.terminal.framing import MAX_FRAME_BYTES, FrameReader, frame
from switch.protocols.terminal.messages import encode
from switch.protocols.terminal.requests import FetchBill
from switch.protocols.terminal.session import (
    NEED_DATA,
    Authenticated,
    BadRequest,
    ClientSession,
    ConnectionClosed,
    HelloReceived,
    Message,
    Request,
    ServerSession,
    ServerVerified,
)

SWITCH = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TERMINAL = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def open_pair() -> tuple[ServerSession, ClientSession]:
    server = ServerSession(SWITCH)
    client = ClientSession("T1", TERMINAL, crypto.public_bytes(SWITCH))
    server.receive_data(client.start())
    assert isinstance(server.next_event(), HelloReceived)
    client.receive_data(server.accept_hello(crypto.public_bytes(TERMINAL)))
    verified = client.next_event()
    assert isinstance(verified, ServerVerified)
    server.receive_data(verified.reply)
    assert isinstance(server.next_event(), Authenticated)
    client.receive_data(server.send({"type": "welcome"}))
    assert isinstance(client.next_event(), Message)
    return server, client


def expect(server: ServerSession, data: bytes, code: ErrorCode) -> None:
    server.receive_data(data)
    with pytest.raises(ProtocolError) as err:
        while server.next_event() is not NEED_DATA:
            pass
    assert err.value.code is code


FETCH = {"type": "fetch_bill", "rid": 1, "biller": "UPPCL", "account": "1234567890"}


def test_a_full_session_yields_requests() -> None:
    server, client = open_pair()
    server.receive_data(client.send(FETCH))
    assert server.next_event() == Request(
        "fetch_bill",
        {"rid": 1, "biller": "UPPCL", "account": "1234567890"},
        FetchBill(1, "UPPCL", "1234567890"),  # validated once, then typed
    )
    assert server.next_event() is NEED_DATA


def test_frames_split_anywhere_reassemble() -> None:
    server, client = open_pair()
    wire = client.send(FETCH) + client.send({"type": "ping"})
    events = []
    for i in range(len(wire)):  # one byte at a time
        server.receive_data(wire[i : i + 1])
        while (ev := server.next_event()) is not NEED_DATA:
            events.append(ev)
    assert [type(e) for e in events] == [Request, Request]


def test_truncated_frame_at_end_of_stream() -> None:
    server = ServerSession(SWITCH)
    hello = ClientSession("T1", TERMINAL, crypto.public_bytes(SWITCH)).start()
    server.receive_data(hello[:-3])
    assert server.next_event() is NEED_DATA
    expect(server, b"", ErrorCode.TRUNCATED_FRAME)


def test_clean_end_of_stream_between_frames() -> None:
    server = ServerSession(SWITCH)
    server.receive_data(b"")
    assert isinstance(server.next_event(), ConnectionClosed)


@pytest.mark.parametrize("length", [0, MAX_FRAME_BYTES + 1, 2**32 - 1])
def test_length_prefix_out_of_range_is_refused_before_the_body(length: int) -> None:
    expect(ServerSession(SWITCH), length.to_bytes(4, "big"), ErrorCode.FRAME_TOO_LARGE)


def test_reader_refuses_a_4_gib_prefix_without_buffering() -> None:
    reader = FrameReader()
    reader.feed(b"\xff\xff\xff\xff" + b"x" * 10)
    with pytest.raises(ProtocolError):
        reader.next_frame()


@pytest.mark.parametrize(
    "body",
    [b"\xc1", b"not msgpack at all", msgpack.packb([1, 2, 3]), msgpack.packb("hello"),
     msgpack.packb({1: "int key"}), msgpack.packb({"type": "hello"}) + b"trailing",
     msgpack.packb({"type": "hello", "v": 1, "tid": "T1", "eph": b"short"}),
     msgpack.packb({"type": "hello", "v": "1", "tid": "T1", "eph": b"x" * 32}),
     msgpack.packb({"type": "hello", "v": 1, "tid": "bad id!", "eph": b"x" * 32}),
     msgpack.packb({"type": "hello", "v": 1, "tid": "T1", "eph": "x" * 32})],
)  # fmt: skip
def test_bad_hello_bodies_are_malformed(body: bytes) -> None:
    expect(ServerSession(SWITCH), frame(body), ErrorCode.MALFORMED_FRAME)


def test_request_before_handshake() -> None:
    expect(ServerSession(SWITCH), frame(encode(FETCH)), ErrorCode.HANDSHAKE_REQUIRED)


def test_unsupported_version() -> None:
    body = encode({"type": "hello", "v": 2, "tid": "T1", "eph": b"x" * 32})
    expect(ServerSession(SWITCH), frame(body), ErrorCode.UNSUPPORTED_VERSION)


def test_handshake_signed_by_the_wrong_key_is_refused() -> None:
    server = ServerSession(SWITCH)
    impostor = ClientSession("T1", Ed25519PrivateKey.generate(), crypto.public_bytes(SWITCH))
    server.receive_data(impostor.start())
    server.next_event()
    impostor.receive_data(server.accept_hello(crypto.public_bytes(TERMINAL)))
    verified = impostor.next_event()
    assert isinstance(verified, ServerVerified)
    expect(server, verified.reply, ErrorCode.HANDSHAKE_FAILED)
    # The refusal goes out unMACed, and the terminal can read it.
    impostor.receive_data(server.reject(ErrorCode.HANDSHAKE_FAILED))
    ev = impostor.next_event()
    assert isinstance(ev, Message) and ev.fields["code"] == "handshake_failed"


def test_terminal_refuses_a_switch_that_is_not_ours() -> None:
    fake_switch = ServerSession(Ed25519PrivateKey.generate())
    client = ClientSession("T1", TERMINAL, crypto.public_bytes(SWITCH))
    fake_switch.receive_data(client.start())
    fake_switch.next_event()
    client.receive_data(fake_switch.accept_hello(crypto.public_bytes(TERMINAL)))
    with pytest.raises(ProtocolError) as err:
        client.next_event()
    assert err.value.code is ErrorCode.HANDSHAKE_FAILED


def test_bad_mac() -> None:
    server, client = open_pair()
    wire = bytearray(client.send(FETCH))
    wire[-1] ^= 1
    expect(server, bytes(wire), ErrorCode.BAD_MAC)


def test_frame_macced_with_another_key() -> None:
    server, _ = open_pair()
    _, other = open_pair()  # a different session's keys
    expect(server, other.send(FETCH), ErrorCode.BAD_MAC)


def test_replayed_sequence_number() -> None:
    server, client = open_pair()
    wire = client.send(FETCH)
    server.receive_data(wire)
    assert isinstance(server.next_event(), Request)
    expect(server, wire, ErrorCode.REPLAYED_SEQ)


def test_sequence_gap() -> None:
    server, client = open_pair()
    client.send(FETCH)  # seq 1 never delivered
    expect(server, client.send(FETCH), ErrorCode.SEQ_GAP)


def test_authentic_but_undecodable_payload_closes() -> None:
    server, client = open_pair()
    assert client._channel is not None
    head = (len(b"\xc1") + 32).to_bytes(4, "big") + b"\xc1"
    wire = head + crypto.tag(client._channel._send_key, head)
    expect(server, wire, ErrorCode.MALFORMED_FRAME)


def test_unknown_type_and_invalid_fields_are_request_level() -> None:
    server, client = open_pair()
    server.receive_data(client.send({"type": "teleport", "rid": 7}))
    assert server.next_event() == BadRequest(
        7, ErrorCode.UNKNOWN_MESSAGE_TYPE, "unknown type 'teleport'"
    )
    bad_pays = [
        {"rid": 8, "ref": "R1", "biller": "UPPCL", "account": "1", "amount_paise": 0},
        {"rid": 8, "ref": "R1", "biller": "UPPCL", "account": "1", "amount_paise": 1.5},
        {"rid": 8, "ref": "R 1", "biller": "UPPCL", "account": "1", "amount_paise": 100},
        {"rid": 8, "ref": "R1", "biller": "UPPCL", "amount_paise": 100},
        {"rid": 8, "ref": "R1", "biller": "UPPCL", "account": "1", "amount_paise": True},
        {
            "rid": 8,
            "ref": "R1",
            "biller": "UPPCL",
            "account": "1",
            "amount_paise": 10,
            "mobile": "12",
        },
    ]
    for fields in bad_pays:
        server.receive_data(client.send({"type": "pay", **fields}))
        ev = server.next_event()
        assert isinstance(ev, BadRequest) and ev.code is ErrorCode.INVALID_REQUEST and ev.rid == 8
    server.receive_data(
        client.send({"type": "list_payments", "rid": 9, "from": "2026-02-30", "to": "2026-03-01"})
    )
    ev = server.next_event()
    assert isinstance(ev, BadRequest) and "real date" in ev.message
    # The session is intact after all that.
    server.receive_data(client.send(FETCH))
    assert isinstance(server.next_event(), Request)


def test_errors_after_the_handshake_are_macced_and_numbered() -> None:
    server, client = open_pair()
    client.receive_data(server.reject(ErrorCode.RATE_LIMITED, rid=3))
    ev = client.next_event()
    assert isinstance(ev, Message) and ev.fields["code"] == "rate_limited" and ev.fields["seq"] == 2
    client.receive_data(server.reject(ErrorCode.BAD_MAC))
    ev = client.next_event()
    assert isinstance(ev, Message) and ev.fields["code"] == "bad_mac"


# X25519 public keys of small order: the shared secret is all zeros whatever our key.
LOW_ORDER_KEYS = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@pytest.mark.parametrize("eph", LOW_ORDER_KEYS, ids=["zero", "one", "order8", "p-1"])
def test_a_low_order_ephemeral_key_is_a_failed_handshake(eph: bytes) -> None:
    """A terminal whose signature verifies but whose ephemeral key is of small order
    gets handshake_failed, like every bad handshake (not a crashed session)."""
    server = ServerSession(SWITCH)
    hello = frame(encode({"type": "hello", "v": 1, "tid": "T1", "eph": eph}))
    server.receive_data(hello)
    assert isinstance(server.next_event(), HelloReceived)
    server_hello = server.accept_hello(crypto.public_bytes(TERMINAL))
    sig = TERMINAL.sign(crypto.terminal_transcript(hello, server_hello))
    server.receive_data(frame(encode({"type": "auth", "sig": sig})))
    with pytest.raises(ProtocolError) as err:
        server.next_event()
    assert err.value.code is ErrorCode.HANDSHAKE_FAILED
