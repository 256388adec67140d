"""An SMS gateway that records what it is asked to send.

    POST /v1/sms        {"id": str, "to": "9876543210", "body": str}  -> 200 accepted
    GET  /v1/messages   ?to=9876543210  -> every message received (for tests, the demo)

Idempotent on ``id``: a retried message is recorded once. Every message is written
to a DurableLog before it is accepted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from simulators.common.http import HttpRequest, JsonApp
from simulators.common.journal import DurableLog

MOBILE_RE = re.compile(r"[6-9][0-9]{9}")


class SmsSimulator:
    def __init__(self, data_dir: Path) -> None:
        self.log = DurableLog(data_dir / "sms-messages.jsonl")
        self.messages: dict[str, dict[str, Any]] = {r["id"]: r for r in self.log.replay()}
        self.app = self._build_app()
        self.app.metrics.expose(lambda: {"sim_sms_messages": len(self.messages)}, dict)

    def _build_app(self) -> JsonApp:
        app = JsonApp()

        @app.route("POST", "/v1/sms")
        async def send(req: HttpRequest) -> tuple[int, Any]:
            body = req.body
            if not isinstance(body, dict) or not isinstance(body.get("id"), str):
                return 400, {"error": "invalid_request", "detail": "id (str) required"}
            if not isinstance(body.get("to"), str) or not MOBILE_RE.fullmatch(body["to"]):
                return 400, {"error": "invalid_request", "detail": "to must be a 10-digit mobile"}
            if not isinstance(body.get("body"), str) or not 0 < len(body["body"]) <= 480:
                return 400, {"error": "invalid_request", "detail": "body must be 1-480 characters"}
            if body["id"] not in self.messages:
                record = {"id": body["id"], "to": body["to"], "body": body["body"]}
                self.messages[body["id"]] = record
                await self.log.append(record)
            return 200, {"status": "accepted", "id": body["id"]}

        @app.route("GET", "/v1/messages")
        async def messages(req: HttpRequest) -> tuple[int, Any]:
            to = req.query.get("to")
            items = [m for m in self.messages.values() if to is None or m["to"] == to]
            return 200, {"messages": items}

        return app
