"""Bad input on real sockets: each gets its documented error code, the connection is
closed or left intact as docs/protocol.md says, and nothing reaches the books."""

from __future__ import annotations

import time

import msgpack
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from simulators.epos.connection import ConnectionLost, EposConnection, HandshakeRefused, connect
from switch.config import Config
from switch.protocols.terminal.framing import frame
from switch.protocols.terminal.messages import encode
from switch.provisioning.credentials import Credentials
from switch.provisioning.store import set_agent_state, set_terminal_state
from switch.server import RunningSwitch
from tests.helpers import books, with_terminals

PAY = {"ref": "R1", "biller": "UPPCL", "account": "1234567890", "amount_paise": 100_00}


async def raw_exchange(
    port: int, data: bytes, *, close_write: bool = False
) -> tuple[list[dict], bool]:
    """Send bytes on a fresh connection; return the frames the switch sent and
    whether it closed the connection (within 5 s)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = b""
    closed = False
    try:
        await stream.send_all(data)
        if close_write:
            await stream.send_eof()
        with trio.move_on_after(5):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    closed = True
                    break
                received += chunk
    finally:
        await stream.aclose()
    frames = []
    while len(received) >= 4:
        n = int.from_bytes(received[:4], "big")
        frames.append(msgpack.unpackb(received[4 : 4 + n]))
        received = received[4 + n :]
    return frames, closed


async def wait_lost(conn: EposConnection) -> ConnectionLost:
    with trio.fail_after(5):
        while conn.lost is None:  # noqa: ASYNC110 (the read loop sets it)
            await trio.sleep(0.01)
    return conn.lost


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ((16 * 1024 + 1).to_bytes(4, "big"), "frame_too_large"),
        (b"\xff\xff\xff\xff", "frame_too_large"),  # a 4 GiB length prefix
        (b"\x00\x00\x00\x00", "frame_too_large"),
        (frame(b"\xc1\xc1 not msgpack"), "malformed_frame"),
        (frame(msgpack.packb([1, 2, 3])), "malformed_frame"),
        (frame(msgpack.packb({"type": "hello", "v": 1})), "malformed_frame"),
        (frame(encode({"type": "pay", "rid": 1, **PAY})), "handshake_required"),
        (
            frame(encode({"type": "hello", "v": 9, "tid": "T1", "eph": b"x" * 32})),
            "unsupported_version",
        ),
        (
            frame(encode({"type": "hello", "v": 1, "tid": "T99999999", "eph": b"x" * 32})),
            "unknown_terminal",
        ),
    ],
)
async def test_bad_first_frames_get_their_code_and_the_door(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str, data: bytes, code: str
) -> None:
    before = books(database_url)
    frames, closed = await raw_exchange(switch.port, data)
    assert [f["code"] for f in frames] == [code]
    assert closed
    assert books(database_url) == before


async def test_truncated_frame_is_dropped(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str
) -> None:
    before = books(database_url)
    frames, closed = await raw_exchange(switch.port, b"\x00\x00\x00\x40partial", close_write=True)
    assert frames == [] and closed
    assert switch.deps.stats.handshake_failures.get("truncated_frame") == 1
    assert books(database_url) == before


async def test_handshake_signed_by_the_wrong_key(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    impostor = Credentials(
        terminals[0].terminal_id,
        terminals[0].agent_id,
        Ed25519PrivateKey.generate().private_bytes_raw(),
        terminals[0].switch_public_key,
        terminals[0].address,
    )
    with pytest.raises(HandshakeRefused) as err:
        async with connect(impostor):
            pass
    assert err.value.code == "handshake_failed"


@pytest.mark.parametrize("what", ["terminal", "agent"])
async def test_blocked_terminal_or_agent(
    switch: RunningSwitch, terminals: list[Credentials], what: str
) -> None:
    creds = terminals[0]
    if what == "terminal":
        await set_terminal_state(switch.db, creds.terminal_id, "blocked")
    else:
        await set_agent_state(switch.db, creds.agent_id, "blocked")
    with pytest.raises(HandshakeRefused) as err:
        async with connect(creds):
            pass
    assert err.value.code == f"{what}_blocked"
    # The other agent's terminal is unaffected.
    async with connect(terminals[1]) as conn:
        await conn.ping()


@pytest.mark.parametrize("attack", ["bad_mac", "replayed_seq", "seq_gap"])
async def test_tampered_frames_close_the_session_and_pay_nothing(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str, attack: str
) -> None:
    async with connect(terminals[0], heartbeat=False) as conn:
        before = books(database_url)
        wire = conn.seal({"type": "pay", "rid": 1, **PAY})
        if attack == "bad_mac":
            wire = wire[:-1] + bytes([wire[-1] ^ 1])
            await conn.send_raw(wire)
        elif attack == "replayed_seq":
            await conn.send_raw(wire)  # seq 1: a real pay, answered
            await conn.send_raw(wire)  # the same bytes again
        else:
            conn.seal({"type": "ping"})  # seq 2 never sent
            await conn.send_raw(conn.seal({"type": "pay", "rid": 2, **PAY, "ref": "R2"}))
        lost = await wait_lost(conn)
    assert lost.code == attack
    after = books(database_url)
    if attack == "replayed_seq":  # the first copy was a genuine pay; the replay added nothing
        assert after[1] == before[1] + 1
    else:
        assert after == before


async def test_request_level_errors_keep_the_session(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str
) -> None:
    async with connect(terminals[0]) as conn:
        before = books(database_url)
        answer = await conn.request("teleport")
        assert (answer["type"], answer["code"]) == ("error", "unknown_message_type")
        answer = await conn.request("pay", **{**PAY, "amount_paise": -5})
        assert answer["code"] == "invalid_request" and "amount_paise" in answer["message"]
        answer = await conn.request("pay", **{**PAY, "amount_paise": 12.5})
        assert answer["code"] == "invalid_request"
        answer = await conn.request("fetch_bill", biller="NOBODY", account="1234567890")
        assert answer["code"] == "unknown_biller"
        answer = await conn.request("fetch_bill", biller="UPPCL", account="0000")
        assert answer["code"] == "unknown_consumer"
        answer = await conn.request("status", ref="never-used")
        assert answer["code"] == "unknown_reference"
        assert books(database_url) == before
        await conn.ping()  # still open


async def test_a_peer_sending_one_byte_a_second_is_cut_off(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", switch.port)
    hello = frame(
        encode({"type": "hello", "v": 1, "tid": terminals[0].terminal_id, "eph": b"x" * 32})
    )
    started = time.monotonic()
    cut_off = False
    with trio.move_on_after(10):
        for byte in hello:
            try:
                await stream.send_all(bytes([byte]))
            except trio.BrokenResourceError:
                cut_off = True
                break
            with trio.move_on_after(1):
                try:
                    closed = await stream.receive_some(65536) == b""
                except trio.BrokenResourceError:  # reset by the switch
                    closed = True
                if closed:
                    cut_off = True
                    break
    await stream.aclose()
    assert cut_off and time.monotonic() - started < 5
    assert (
        switch.deps.stats.handshake_failures.get("handshake_timeout", 0)
        + switch.deps.stats.handshake_failures.get("frame_timeout", 0)
        == 1
    )


async def silent(port: int, n: int, source: str = "127.0.0.2") -> list[trio.SocketStream]:
    """``n`` connections from ``source`` that never say a word."""
    return [await trio.open_tcp_stream("127.0.0.1", port, local_address=source) for _ in range(n)]


class TestAThousandSilentConnections:
    """Opening 1,000 connections one after the other can take more than the test
    switch's 1 s handshake deadline on a slow machine (CI once counted 257 timeouts
    for 256 places): the first ones time out and free their places for later ones.
    Here the handshake deadline outlasts the opening, and the frame and idle
    deadlines (otherwise shorter) come after it."""

    @pytest.fixture
    def switch_config(self, switch_config: Config) -> Config:
        return with_terminals(
            switch_config, handshake_timeout_s=5.0, frame_timeout_s=5.0, idle_timeout_s=8.0
        )

    async def test_a_thousand_silent_connections_are_closed_and_pays_go_on(
        self, switch: RunningSwitch, terminals: list[Credentials]
    ) -> None:
        """From one address, only max_handshakes_per_ip wait for their handshake deadline;
        the rest are closed on arrival (past the address's burst of new connections, or
        past its pending handshakes); a real terminal elsewhere pays meanwhile."""
        streams = await silent(switch.port, 1000)
        try:
            async with connect(terminals[0]) as conn:  # a real terminal, meanwhile
                result = await conn.request("pay", **PAY)
                assert result["status"] == "success"
            with trio.fail_after(15):
                while switch.deps.stats.connected:  # noqa: ASYNC110 (watching the switch's count)
                    await trio.sleep(0.05)
            held = switch.deps.cfg.max_handshakes_per_ip
            assert switch.deps.stats.handshake_failures.get("handshake_timeout") == held
            refused = switch.deps.gate.statistics().refused
            assert refused["rate_per_ip"] > 0  # past the burst, closed before counting
            assert refused["rate_per_ip"] + refused["handshakes_per_ip"] == 1000 - held
        finally:
            for s in streams:
                await s.aclose()


async def test_idle_session_times_out(switch: RunningSwitch, terminals: list[Credentials]) -> None:
    async with connect(terminals[0], heartbeat=False) as conn:
        lost = await wait_lost(conn)
    assert lost.code == "idle_timeout"


async def test_heartbeats_keep_a_session_alive(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0], heartbeat=False) as conn:
        for _ in range(4):  # 4 x 0.8 s > the 2 s idle timeout
            await trio.sleep(0.8)
            await conn.ping()
        assert conn.lost is None


async def test_a_newer_session_replaces_the_older(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0]) as first, connect(terminals[0]) as second:
        lost = await wait_lost(first)
        assert lost.code == "session_replaced"
        await second.ping()


async def test_edge_values_get_documented_answers_never_an_internal_error(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    """Values at and past the schema's bounds (the largest txn, the calendar's ends),
    and a seeded sample across them: every answer is a documented one."""
    import random

    from switch.protocols.terminal.errors import ErrorCode

    documented = {c.value for c in ErrorCode}
    edge = [
        ({"from": "2026-01-01", "to": "2026-01-31", "after": 2**63 - 1}, "payments"),
        ({"from": "2026-01-01", "to": "2026-01-31", "after": 2**63}, "invalid_request"),
        ({"from": "0001-01-01", "to": "0001-01-01"}, "invalid_request"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "invalid_request"),
        ({"from": "2099-12-31", "to": "2099-12-31"}, "payments"),
        ({"from": "2000-01-01", "to": "2000-01-01"}, "payments"),
    ]
    rng = random.Random(5)
    years = [1, 1999, 2000, 2026, 2099, 2100, 9999]
    sample = [
        {
            "from": f"{rng.choice(years):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "to": f"{rng.choice(years):04d}-12-31",
            "after": rng.choice([0, 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1]),
        }
        for _ in range(30)
    ]
    async with connect(terminals[0]) as conn:
        for fields, expected in edge:
            answer = await conn.request("list_payments", **fields)
            assert answer.get("code", answer["type"]) == expected, (fields, answer)
            dates = {k: v for k, v in fields.items() if k != "after"}
            summary = await conn.request("summary", **dates)
            assert summary.get("code", summary["type"]) in ("summary", "invalid_request")
        for fields in sample:
            for kind in ("list_payments", "summary"):
                body = fields if kind == "list_payments" else {k: fields[k] for k in ("from", "to")}
                answer = await conn.request(kind, **body)
                assert answer["type"] != "error" or answer["code"] in documented, answer
                assert answer.get("code") != "internal_error", (kind, body, answer)
        await conn.ping()  # the session survived all of it


async def test_a_frame_left_unfinished_is_cut_with_the_frame_timeout_named(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0]) as conn:
        await conn.send_raw(b"\x00\x00\x00\x40ab")  # a 64-byte frame, 2 bytes of it
        lost = await wait_lost(conn)
    assert lost.code == "frame_timeout"
    limit = switch.deps.cfg.frame_timeout_s
    assert f"frame not finished in {limit:g} s" in str(lost), str(lost)
