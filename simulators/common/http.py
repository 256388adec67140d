"""The simulators' HTTP: a tiny JSON app and an HTTP/1.1 server on h11 and trio.

Routes are ``(method, "/path/{param}")`` -> ``async handler(request) -> (status, body)``.
Bodies are JSON both ways; a body that is not JSON is a 400 with a JSON error.

The server is our own (h11 does the protocol) rather than an ASGI server, because the
faults the switch must survive live below HTTP: a connection reset, a reply that
drips in a byte at a time, a reply delivered twice, a request never answered. The
``FaultInjector`` (simulators/common/faults.py) decides, per request, what goes wrong.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11
import trio
from prometheus_client import CONTENT_TYPE_LATEST

from simulators.common.faults import Fault, FaultInjector
from simulators.common.metrics import SimulatorMetrics

Handler = Callable[["HttpRequest"], Awaitable[tuple[int, Any]]]
MAX_BODY_BYTES = 64 * 1024
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
        query = dict(part.split("=", 1) for part in query_string.split("&") if "=" in part)
        for method_, regex, handler in self._routes:
            match = regex.match(path)
            if match and method_ == method:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    return 400, b'{"error":"invalid_json"}'
                request = HttpRequest(method, path, match.groupdict(), query, body, fault)
                if self.raw_override is not None:
                    overridden = await self.raw_override(request)
                    if overridden is not None:
                        return overridden
                status, out = await handler(request)
                return status, json.dumps(out).encode()
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
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY_BYTES)
    try:
        while True:
            request = await _read_request(conn, stream)
            if request is None:
                return
            method, target, body = request
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
            wire = conn.send(
                h11.Response(
                    status_code=status,
                    headers=[
                        (b"content-type", content_type.encode()),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                )
            )
            wire += conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage())
            if fault is not None and await faults.deliver(fault, stream, wire):
                return
            if fault is None:
                await stream.send_all(wire)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _read_request(
    conn: h11.Connection, stream: trio.SocketStream
) -> tuple[str, str, bytes] | None:
    method = target = ""
    chunks: list[bytes] = []
    with trio.move_on_after(IDLE_TIMEOUT_S):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                method, target = event.method.decode(), event.target.decode()
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return method, target, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                return None
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
