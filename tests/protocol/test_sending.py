"""``send_now``: what the kernel takes at once goes without a scheduler trip, the
rest is left for ``send_all``, and a gone peer or a closed stream raise as
``send_all`` does."""

from __future__ import annotations

import socket

import pytest
import trio

from switch.protocols.sending import send_now


def pair() -> tuple[trio.SocketStream, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return trio.SocketStream(trio.socket.from_stdlib_socket(ours)), theirs


async def test_a_small_message_goes_at_once() -> None:
    stream, peer = pair()
    assert len(send_now(stream, b"hello")) == 0
    assert peer.recv(100) == b"hello"


async def test_what_a_full_socket_cannot_take_is_left_for_send_all() -> None:
    stream, peer = pair()
    big = bytes(range(256)) * 40_000  # 10 MB: more than any socket buffer
    rest = send_now(stream, big)
    assert 0 < len(rest) < len(big)
    received = bytearray()

    async def read() -> None:
        while len(received) < len(big):
            await trio.to_thread.run_sync(lambda: received.extend(peer.recv(1 << 20)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await stream.send_all(rest)
    assert bytes(received) == big  # in order, nothing lost or doubled


async def test_a_gone_peer_and_a_closed_stream_raise_as_send_all_does() -> None:
    stream, peer = pair()
    peer.close()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(10):  # the first write may still land in the buffer
            send_now(stream, b"x" * 100_000)
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        send_now(stream, b"x")


async def test_a_stream_that_is_not_a_socket_is_left_to_send_all() -> None:
    left, _right = trio.testing.memory_stream_pair()
    assert bytes(send_now(left, b"abc")) == b"abc"
