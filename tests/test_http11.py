"""The switch's HTTP client: keep-alive reuse, deadlines, and what "never sent" means."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import trio

from simulators.run import start_simulator
from switch.protocols.http11 import ConnectFailed, HttpClient, HttpTimeout
from switch.services.common import free_tcp_port


async def test_connections_are_reused(tmp_path: Path) -> None:
    async with trio.open_nursery() as n:
        _, port = await start_simulator(n, "sms", tmp_path)
        client = HttpClient(f"http://127.0.0.1:{port}", max_connections=2)
        for _ in range(20):
            assert (await client.get("/v1/messages")).status == 200
        assert len(client._idle) == 1  # twenty requests, one connection
        await client.aclose()
        n.cancel_scope.cancel()


async def test_nobody_listening_is_connect_failed() -> None:
    client = HttpClient(f"http://127.0.0.1:{free_tcp_port()}")
    with pytest.raises(ConnectFailed):
        await client.get("/v1/anything")


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as n:
        [listener] = await n.start(functools.partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        client = HttpClient(f"http://127.0.0.1:{port}", timeout_s=0.3)
        with trio.fail_after(2), pytest.raises(HttpTimeout):
            await client.get("/v1/x")
        n.cancel_scope.cancel()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError):
        HttpClient("https://example.invalid")


def answer(n: int) -> bytes:
    body = f'{{"n": {n}}}'.encode()
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def serve_raw(
    nursery: trio.Nursery, handle: object
) -> int:  # a server that answers with raw bytes, however it likes
    [listener] = await nursery.start(
        functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1")  # type: ignore[arg-type]
    )
    return int(listener.socket.getsockname()[1])


async def test_a_keep_alive_connection_the_server_closed_is_not_used() -> None:
    """The server answers, keeps the connection a moment, then closes it. The next
    request must go on a new connection and succeed: sent on the closed one, a pay
    would have failed as "may have reached the biller"."""
    accepted = []

    async def close_after_answer(stream: trio.SocketStream) -> None:
        accepted.append(stream)
        await stream.receive_some(4096)
        await stream.send_all(answer(len(accepted)))
        await trio.sleep(0.05)
        await stream.aclose()

    async with trio.open_nursery() as n:
        port = await serve_raw(n, close_after_answer)
        client = HttpClient(f"http://127.0.0.1:{port}")
        assert (await client.get("/a")).json() == {"n": 1}
        await trio.sleep(0.2)  # the server has closed its side by now
        assert (await client.get("/b")).json() == {"n": 2}
        n.cancel_scope.cancel()


async def test_a_late_duplicate_is_never_read_as_the_next_answer() -> None:
    """A server sends its answer, then the same answer again a moment later on the
    same connection: the next request must get its own answer, not the stale copy."""
    served = []

    async def duplicate_late(stream: trio.SocketStream) -> None:
        try:
            while await stream.receive_some(4096):
                served.append(1)
                await stream.send_all(answer(len(served)))
                await trio.sleep(0.05)
                await stream.send_all(answer(len(served)))  # the duplicate, late
        except trio.BrokenResourceError:
            pass  # the client dropped the spoilt connection

    async with trio.open_nursery() as n:
        port = await serve_raw(n, duplicate_late)
        client = HttpClient(f"http://127.0.0.1:{port}")
        assert (await client.get("/a")).json() == {"n": 1}
        await trio.sleep(0.2)
        assert (await client.get("/b")).json() == {"n": 2}
        n.cancel_scope.cancel()
