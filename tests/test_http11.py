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
