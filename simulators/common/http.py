"""The simulators' HTTP: a tiny JSON app and an HTTP/1.1 server on llhttp and trio.

Routes are ``(method, "/path/{param}")`` -> ``async handler(request) -> (status, body)``.
Bodies are JSON both ways; a body that is not JSON is a 400 with a JSON error.

The server is our own (llhttp, through httptools, parses the requests; the replies
are written here) rather than an ASGI server, because the faults the switch must
survive live below HTTP: a connection reset, a reply that drips in a byte at a time,
a reply delivered twice, a request never answered. The ``FaultInjector``
(simulators/common/faults.py) decides, per request, what goes wrong. llhttp, not h11:
the simulators must cost far less than the switch per request, or a benchmark of the
demo measures them (h11 cost the discom simulator about a third of its CPU).
"""

from __future__ import annotations

import functools
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import orjson
import trio
from prometheus_client import CONTENT_TYPE_LATEST

from simulators.common.faults import Fault, FaultInjector
from simulators.common.metrics import SimulatorMetrics
from switch.protocols.sending import send_now

Handler = Callable[["HttpRequest"], Awaitable[tuple[int, Any]]]
MAX_BODY_BYTES = 64 * 1024
MAX_REQUEST_BYTES = MAX_BODY_BYTES + 16 * 1024  # with its request line and headers
IDLE_TIMEOUT_S = 120.0


@dataclass
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    fault: Fault | None = None  # a book fault the handler itself must act out


class JsonApp:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        # Hooks the fault injector (faults issue) uses to misbehave on purpose.
        self.raw_override: Callable[[HttpRequest], Awaitable[tuple[int, bytes] | None]] | None = (
            None
        )
        self.metrics = SimulatorMetrics()  # served at GET /metrics

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method, regex, handler))
            return handler

        return register

    async def handle(
        self, method: str, target: str, raw: bytes, fault: Fault | None = None
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request."""
        path = target.partition("?")[0]
        if path == "/metrics" and method == "GET":
            return 200, self.metrics.exposition(), CONTENT_TYPE_LATEST
        status, body = await self._handle_json(method, target, raw, fault)
        return status, body, "application/json"

    async def _handle_json(
        self, method: str, target: str, raw: bytes, fault: Fault | None
    ) -> tuple[int, bytes]:
        path, _, query_string = target.partition("?")
        if len(raw) > MAX_BODY_BYTES:
            return 413, b'{"error":"body_too_large"}'
        query = dict(urllib.parse.parse_qsl(query_string))
        for method_, regex, handler in self._routes:
            match = regex.match(path)
            if match and method_ == method:
                try:
                    body = orjson.loads(raw) if raw else None
                except ValueError:
                    return 400, b'{"error":"invalid_json"}'
                request = HttpRequest(method, path, match.groupdict(), query, body, fault)
                if self.raw_override is not None:
                    overridden = await self.raw_override(request)
                    if overridden is not None:
                        return overridden
                status, out = await handler(request)
                return status, orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS)
        return 404, b'{"error":"no_such_route"}'


async def serve_app(
    app: JsonApp,
    host: str,
    port: int,
    *,
    faults: FaultInjector | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; report the bound port (``port`` 0: any free one)."""
    injector = faults or FaultInjector()
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=1024)
    bound = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        handler = functools.partial(_serve_connection, app, injector)
        await nursery.start(functools.partial(trio.serve_listeners, handler, listeners))
        task_status.started(bound)


async def _serve_connection(app: JsonApp, faults: FaultInjector, stream: trio.SocketStream) -> None:
    reader = _RequestReader()
    try:
        while True:
            request = await _read_request(reader, stream)
            if request is None:
                return
            method, target, body, keep_alive = request
            started, operation = time.perf_counter(), op_of(method, target)
            fault = faults.pick(operation)
            action = await faults.before(fault, stream) if fault is not None else None
            if action == "closed":
                return  # the fault ended the connection (reset, hang, down)
            content_type = "application/json"
            if action == "refuse":
                status, payload = 503, b'{"error":"injected"}'
            else:
                status, payload, content_type = await app.handle(method, target, body, fault)
            if fault is not None:
                status, payload = faults.rewrite(fault, status, payload)
            app.metrics.observe(operation, status, started)
            wire = _response(status, content_type, payload, keep_alive)
            if fault is not None and await faults.deliver(fault, stream, wire):
                return
            if fault is None and (rest := send_now(stream, wire)):
                await stream.send_all(rest)  # the kernel took only part at once
            if not keep_alive:
                return
    except (trio.BrokenResourceError, trio.ClosedResourceError, httptools.HttpParserError):
        return
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


def _response(status: int, content_type: str, payload: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_phrase(status)}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(payload)}\r\n"
    )
    if not keep_alive:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + payload


@functools.cache
def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _RequestReader:
    """llhttp's callbacks made into whole requests, in the order they arrived (a
    client may send the next before this one is answered)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[tuple[str, str, bytes, bool]] = deque()
        self.buffered = 0  # bytes fed since the last whole request: bounded
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        if self._size <= MAX_BODY_BYTES:  # past it the app answers 413: keep no more
            self._body.append(body)
        self._size += len(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        keep_alive = self.parser.should_keep_alive()
        self.ready.append((method, self._url.decode(), b"".join(self._body), keep_alive))
        self._url, self._body, self._size, self.buffered = b"", [], 0, 0


async def _read_request(
    reader: _RequestReader, stream: trio.SocketStream
) -> tuple[str, str, bytes, bool] | None:
    """The next whole request; None when the client closed, went idle past
    ``IDLE_TIMEOUT_S``, or sent more than a request may be without finishing one."""
    with trio.move_on_after(IDLE_TIMEOUT_S):
        while not reader.ready:
            data = await stream.receive_some(65536)
            if not data:
                return None
            reader.buffered += len(data)
            if reader.buffered > MAX_REQUEST_BYTES:
                return None
            reader.parser.feed_data(data)
        return reader.ready.popleft()
    return None  # idle keep-alive connection: close it


def op_of(method: str, target: str) -> str:
    """Which biller operation a request is, for fault injection."""
    path = target.partition("?")[0]
    if path.startswith("/v1/admin/"):
        return "admin"
    if path.startswith("/v1/bills/"):
        return "fetch"
    if path == "/v1/payments" and method == "POST":
        return "pay"
    if path.startswith("/v1/payments/"):
        return "status"
    if path == "/v1/reversals":
        return "reversal"
    return "other"
