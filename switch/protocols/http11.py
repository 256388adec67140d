"""A small HTTP/1.1 client: h11 for the protocol, trio streams, a keep-alive pool.

Why not httpx: measured inside the switch under trio (anyio + httpcore), httpx cost
about 1.4 ms of CPU per request, half the switch's CPU at 120 pays/s. The same
requests through h11 directly cost a fraction of that (loadtests/http_bench.py). We
keep h11 for the protocol and write only the pooling.

- At most ``max_connections`` connections per client; callers beyond wait (bounded by
  their deadline). Idle connections are reused LIFO and dropped after ``idle_max_s``,
  before a server's own keep-alive timeout could close them under us.
- Every request has a deadline (``timeout_s``). ``ConnectFailed`` means nothing was
  sent; any other ``HttpError`` means the request may have reached the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

READ_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024


class HttpError(Exception):
    """The request failed; it may have reached the server."""


class ConnectFailed(HttpError):
    """No connection could be made: the request was never sent."""


class HttpTimeout(HttpError):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Conn:
    __slots__ = ("h11", "last_used", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.last_used = trio.current_time()


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 32,
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        idle_max_s: float = 20.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port URLs are supported, got {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._host_header = parts.netloc.encode()
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._idle_max_s = idle_max_s
        self._max_response_bytes = max_response_bytes
        self._slots = trio.Semaphore(max_connections)
        self._idle: list[_Conn] = []
        self.requests = 0

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any) -> Response:
        return await self.request("POST", path, json.dumps(body).encode())

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        self.requests += 1
        with trio.move_on_after(self._timeout_s) as scope:
            async with self._slots:
                conn = await self._checkout()
                try:
                    response = await self._exchange(conn, method, path, body)
                except BaseException:
                    await _close(conn)
                    raise
                self._checkin(conn)
                return response
        assert scope.cancelled_caught
        raise HttpTimeout(f"{method} {path}: no answer in {self._timeout_s}s")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close(conn)

    async def _checkout(self) -> _Conn:
        now = trio.current_time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.last_used < self._idle_max_s:
                return conn
            await _close(conn)
        try:
            with trio.fail_after(self._connect_timeout_s):
                stream = await trio.open_tcp_stream(self._host, self._port)
        except (OSError, trio.TooSlowError) as exc:
            raise ConnectFailed(f"connect {self._host}:{self._port}: {exc!r}") from exc
        return _Conn(stream)

    def _checkin(self, conn: _Conn) -> None:
        h = conn.h11
        leftover, closed = h.trailing_data
        if leftover or closed:
            # Bytes after the response (a duplicated reply, say) would be read as the
            # answer to the next request on this connection: never reuse it.
            conn.stream.socket.close()
            return
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            conn.last_used = trio.current_time()
            self._idle.append(conn)
        else:
            conn.stream.socket.close()

    async def _exchange(self, conn: _Conn, method: str, path: str, body: bytes) -> Response:
        h = conn.h11
        headers: list[tuple[bytes, bytes]] = [
            (b"host", self._host_header),
            (b"content-length", str(len(body)).encode()),
        ]
        if body:
            headers.append((b"content-type", b"application/json"))
        out = h.send(h11.Request(method=method, target=self._prefix + path, headers=headers))
        out += h.send(h11.Data(data=body)) if body else b""
        out += h.send(h11.EndOfMessage())
        try:
            await conn.stream.send_all(out)
            status, chunks, size = 0, [], 0
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    data = await conn.stream.receive_some(READ_BYTES)
                    h.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > self._max_response_bytes:
                        raise HttpError(f"response over {self._max_response_bytes} bytes")
                    chunks.append(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    return Response(status, b"".join(chunks))
                elif isinstance(event, h11.ConnectionClosed):
                    raise HttpError("connection closed before the response ended")
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError) as exc:
            raise HttpError(f"{method} {path}: {exc!r}") from exc


async def _close(conn: _Conn) -> None:
    with trio.CancelScope(shield=True):
        await conn.stream.aclose()
