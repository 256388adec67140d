"""Property tests: the codec survives any bytes, and only MACed bytes authenticate."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switch.protocols.terminal.errors import ProtocolError
from switch.protocols.terminal.session import NEED_DATA, Request, ServerSession
from tests.protocol.test_codec import SWITCH, open_pair

FETCH = {"type": "fetch_bill", "rid": 1, "biller": "UPPCL", "account": "1234567890"}


def drain(server: ServerSession, data: bytes) -> list[object]:
    server.receive_data(data)
    events = []
    while (ev := server.next_event()) is not NEED_DATA:
        events.append(ev)
        if len(events) > 1000:
            break
    return events


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_before_the_handshake_raise_only_protocol_errors(data: bytes) -> None:
    server = ServerSession(SWITCH)
    try:
        drain(server, data)
        drain(server, b"")
    except ProtocolError:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_in_an_open_session_never_authenticate(data: bytes) -> None:
    server, _ = open_pair()
    try:
        events = drain(server, data)
    except ProtocolError:
        return
    assert not any(isinstance(e, Request) for e in events)


@st.composite
def mutated_frames(draw: st.DrawFn) -> tuple[ServerSession, bool, bytes]:
    """An open session, whether the mutation left the frame its peer MACed whole at the
    start of the bytes (an "extend", or a splice that amounts to one: bytes inserted
    just before the end that repeat it, which a random tag allows now and then), and
    the mutated bytes."""
    server, client = open_pair()
    frame = client.send(FETCH)
    data = bytearray(frame)
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=40))
    else:  # insert inside the frame (inserting at its end would be "extend")
        i = draw(st.integers(0, len(data) - 1))
        data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return server, bytes(data).startswith(frame), bytes(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_mutated_frames_never_yield_an_authenticated_request(
    case: tuple[ServerSession, bool, bytes],
) -> None:
    server, frame_whole, data = case
    try:
        events = drain(server, data)
    except ProtocolError:
        return
    # Only the exact bytes the client MACed authenticate. (Appending bytes leaves the
    # original frame intact, followed by garbage: that one frame may pass, nothing more.)
    requests = [e for e in events if isinstance(e, Request)]
    assert len(requests) == (1 if frame_whole else 0)
