"""A minimal JSON ASGI application for the simulators, served by hypercorn on trio.

Routes are ``(method, "/path/{param}")`` -> ``async handler(request) -> (status, body)``.
Bodies are JSON both ways; a body that is not JSON is a 400 with a JSON error. This is
deliberately tiny: the simulators stand in for billers, and a framework would only
add cost per request.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

Body = dict[str, Any]
Handler = Callable[["HttpRequest"], Awaitable[tuple[int, Any]]]
MAX_BODY_BYTES = 64 * 1024


@dataclass
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any


class JsonApp:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        # Hooks the fault injector (faults issue) uses to misbehave on purpose.
        self.raw_override: Callable[[HttpRequest], Awaitable[tuple[int, bytes] | None]] | None = (
            None
        )

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method, regex, handler))
            return handler

        return register

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        status, payload = await self._dispatch(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _dispatch(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if len(raw) > MAX_BODY_BYTES:
                return 413, b'{"error":"body_too_large"}'
            if not message.get("more_body"):
                break
        query = dict(
            part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
        )
        for method, regex, handler in self._routes:
            match = regex.match(scope["path"])
            if match and method == scope["method"]:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    return 400, b'{"error":"invalid_json"}'
                request = HttpRequest(method, scope["path"], match.groupdict(), query, body)
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
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with hypercorn's trio worker; report the bound port when ready."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"{host}:{port}"]  # port 0: any free port, reported below
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 75
    config.backlog = 1024
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            functools.partial(serve, app, config, shutdown_trigger=trio.sleep_forever)  # type: ignore[arg-type]
        )
        task_status.started(int(urls[0].rsplit(":", 1)[1]))
