"""The switch's operations endpoint: /metrics, /healthz, /readyz.

A small ASGI app served by hypercorn's trio worker on its own port (``[ops]
metrics_port``), apart from the terminal listener, so that a scrape never competes
with terminals for a connection slot and a terminal can never reach it.

* ``/metrics``: Prometheus text exposition (switch/ops/metrics.py).
* ``/healthz``: 200 while the process runs its event loop (liveness).
* ``/readyz``: 200 when this process should get traffic: the database answers within
  a second and the terminal listener is accepting; 503 with the reasons otherwise
  (starting, draining for shutdown, database unreachable).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from prometheus_client import CONTENT_TYPE_LATEST

from switch.ops.metrics import SwitchMetrics

# (serve_asgi serves any ASGI app: the ops endpoint here, the admin API too.)

log = logging.getLogger("switch.ops")
Readiness = Callable[[], Awaitable[list[str]]]  # the reasons it is not ready; [] = ready
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class OpsApp:
    def __init__(self, metrics: SwitchMetrics, not_ready: Readiness) -> None:
        self._metrics = metrics
        self._not_ready = not_ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, _json({"error": "method_not_allowed"}))
        elif path == "/metrics":
            body = self._metrics.exposition()  # on the trio thread, like every update
            await _respond(send, 200, body, CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            await _respond(send, 200, _json({"status": "ok"}))
        elif path == "/readyz":
            reasons = await self._not_ready()
            answer = {"status": "not_ready", "reasons": reasons} if reasons else {"status": "ready"}
            await _respond(send, 503 if reasons else 200, _json(answer))
        else:
            paths = ["/metrics", "/healthz", "/readyz"]
            await _respond(send, 404, _json({"error": "not_found", "paths": paths}))


async def serve_asgi(
    app: Any,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report the bound port (``port`` 0: any free one)."""
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # a scrape every few seconds is not news
    config.loglevel = "WARNING"  # our own log says where it listens
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            functools.partial(hypercorn_serve, app, config, mode="asgi")
        )
        task_status.started(int(binds[0].rsplit(":", 1)[1]))


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


async def _respond(
    send: Send, status: int, body: bytes, content_type: str = "application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
