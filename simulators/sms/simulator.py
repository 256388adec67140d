"""An SMS gateway that records what it is asked to send.

    POST /v1/sms        {"id": str, "to": "9876543210", "body": str,
                         "template_id": "1107...", "language": "en" | "hi"}  -> 200 accepted
    POST /v1/sms/batch  {"messages": [message, ...]} (at most 500) -> 200
                        {"results": [{"id", "status": "accepted"} | {"id", "error", "detail"}]}
    GET  /v1/messages   ?to=9876543210  -> every message received (for tests, the demo)

Like an Indian operator's gateway, it sends only a text that names its registered
template (``template_id``, digits); one without is refused. Idempotent on ``id``: a
retried message is recorded once. Every message is written
to a DurableLog before it is accepted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from simulators.common.http import HttpRequest, JsonApp
from simulators.common.journal import DurableLog

MOBILE_RE = re.compile(r"[6-9][0-9]{9}")
TEMPLATE_RE = re.compile(r"[0-9]{1,30}")
MAX_BATCH = 500


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
            problem = _problem(req.body)
            if problem:
                return 400, {"error": "invalid_request", "detail": problem}
            await self._accept([req.body])
            return 200, {"status": "accepted", "id": req.body["id"]}

        @app.route("POST", "/v1/sms/batch")
        async def send_batch(req: HttpRequest) -> tuple[int, Any]:
            items = req.body.get("messages") if isinstance(req.body, dict) else None
            if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
                detail = f"messages: a list of 1 to {MAX_BATCH}"
                return 400, {"error": "invalid_request", "detail": detail}
            problems = [_problem(m) for m in items]
            await self._accept([m for m, p in zip(items, problems, strict=True) if not p])
            return 200, {
                "results": [
                    {
                        "id": m.get("id") if isinstance(m, dict) else None,
                        "error": "invalid_request",
                        "detail": p,
                    }
                    if p
                    else {"id": m["id"], "status": "accepted"}
                    for m, p in zip(items, problems, strict=True)
                ]
            }

        @app.route("GET", "/v1/messages")
        async def messages(req: HttpRequest) -> tuple[int, Any]:
            to = req.query.get("to")
            items = [m for m in self.messages.values() if to is None or m["to"] == to]
            return 200, {"messages": items}

        return app

    async def _accept(self, messages: list[dict[str, Any]]) -> None:
        """Record new messages (a retried id once), on disk before the answer."""
        records = []
        for m in messages:
            if m["id"] not in self.messages:
                record = {
                    "id": m["id"],
                    "to": m["to"],
                    "body": m["body"],
                    "template_id": m["template_id"],
                    "language": m.get("language", "en"),
                }
                self.messages[m["id"]] = record
                records.append(record)
        if records:
            await self.log.append_many(records)


def _problem(m: Any) -> str:
    if not isinstance(m, dict) or not isinstance(m.get("id"), str):
        return "id (str) required"
    if not isinstance(m.get("to"), str) or not MOBILE_RE.fullmatch(m["to"]):
        return "to must be a 10-digit mobile"
    if not isinstance(m.get("body"), str) or not 0 < len(m["body"]) <= 480:
        return "body must be 1-480 characters"
    if not isinstance(m.get("template_id"), str) or not TEMPLATE_RE.fullmatch(m["template_id"]):
        return "template_id: the registered template's id (digits) required"
    if m.get("language", "en") not in ("en", "hi"):
        return "language must be en or hi"
    return ""
