"""A small HTTP/1.1 client: llhttp (httptools) parses the answers, trio streams, a
keep-alive pool.

Why not httpx: measured inside the switch under trio (anyio + httpcore), httpx cost
about 1.4 ms of CPU per request, half the switch's CPU at 120 pays/s. Why not h11,
which this client used first: a pure-Python parser, it was about a tenth of the
switch's CPU (two biller calls per pay); llhttp, the parser of Node.js, is C
(loadtests/http_bench.py compares them). Requests are written here: a request line
and three headers.

- At most ``max_connections`` connections per client; callers beyond wait (bounded by
  their deadline). Idle connections are reused LIFO and dropped after ``idle_max_s``,
  before a server's own keep-alive timeout could close them under us.
- Every request has a deadline (``timeout_s``). ``ConnectFailed`` means nothing was
  sent; any other ``HttpError`` means the request may have reached the server.
"""

from __future__ import annotations

import select
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson
import trio

from switch.ops.take import take
from switch.protocols.sending import send_now

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
        return orjson.loads(self.body)


class _TooLarge(Exception):
    pass


class _Answer:
    """One response as llhttp reads it (its callbacks). Bytes after the response (a
    duplicated reply, say) are noted, never read as part of it."""

    __slots__ = ("chunks", "done", "keep_alive", "limit", "parser", "size", "status", "trailing")

    def __init__(self, limit: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.done = False
        self.trailing = False  # bytes came after the response: the connection is spoilt
        self.keep_alive = False

    def on_message_begin(self) -> None:
        if self.done:
            self.trailing = True

    def on_headers_complete(self) -> None:
        if not self.done:
            self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self.done:
            return
        self.size += len(body)
        if self.size > self.limit:
            raise _TooLarge
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.done:  # asked here: llhttp forgets it once the message is over
            self.keep_alive = self.parser.should_keep_alive()
        self.done = True

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _TooLarge):
                raise HttpError(f"response over {self.limit} bytes") from exc
            raise
        except httptools.HttpParserError as exc:
            if not self.done:
                raise HttpError(f"not an HTTP/1.1 answer: {exc}") from exc
            self.trailing = True  # garbage after a whole response

    def reusable(self) -> bool:
        return self.done and not self.trailing and self.keep_alive


class _Conn:
    __slots__ = ("last_used", "reusable", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reusable = False
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
        self._host_header = parts.netloc
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
        return await self.request("POST", path, orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS))

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One request; ``headers`` beyond host, content-length and content-type (a
        signature's, say: their values must not hold CR or LF)."""
        self.requests += 1
        with trio.move_on_after(self._timeout_s) as scope:
            await take(self._slots)
            try:
                conn = await self._checkout()
                try:
                    response = await self._exchange(conn, method, path, body, headers)
                except BaseException:
                    await _close(conn)
                    raise
                self._checkin(conn)
                return response
            finally:
                self._slots.release()
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
            if now - conn.last_used < self._idle_max_s and not _readable(conn):
                return conn
            await _close(conn)
        try:
            with trio.fail_after(self._connect_timeout_s):
                stream = await trio.open_tcp_stream(self._host, self._port)
        except (OSError, trio.TooSlowError) as exc:
            raise ConnectFailed(f"connect {self._host}:{self._port}: {exc!r}") from exc
        return _Conn(stream)

    def _checkin(self, conn: _Conn) -> None:
        if conn.reusable:
            conn.last_used = trio.current_time()
            self._idle.append(conn)
        else:  # closed by the server, or spoilt by bytes after the answer
            conn.stream.socket.close()

    async def _exchange(
        self,
        conn: _Conn,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        target = self._prefix + path
        assert " " not in target and "\r" not in target and "\n" not in target, target
        head = f"{method} {target} HTTP/1.1\r\nhost: {self._host_header}\r\n"
        head += f"content-length: {len(body)}\r\n"
        if body:
            head += "content-type: application/json\r\n"
        for name, value in (headers or {}).items():
            assert not {"\r", "\n"} & set(name + value), name
            head += f"{name}: {value}\r\n"
        answer = _Answer(self._max_response_bytes)
        conn.reusable = False
        try:
            rest = send_now(conn.stream, head.encode() + b"\r\n" + body)
            if rest:
                await conn.stream.send_all(rest)
            while not answer.done:
                data = await conn.stream.receive_some(READ_BYTES)
                if not data:
                    raise HttpError("connection closed before the response ended")
                answer.feed(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise HttpError(f"{method} {path}: {exc!r}") from exc
        conn.reusable = answer.reusable()
        return Response(answer.status, b"".join(answer.chunks))


def _readable(conn: _Conn) -> bool:
    """An idle connection with something to read is spoilt: the server closed it (a
    request sent on it would fail, and a pay's would leave its outcome unknown), or
    sent bytes nobody asked for (a late duplicate, which the next request would read
    as its answer)."""
    try:
        ready, _, _ = select.select([conn.stream.socket.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


async def _close(conn: _Conn) -> None:
    with trio.CancelScope(shield=True):
        await conn.stream.aclose()
