"""A payment gateway with UPI collect, as the switch's payment links use it.

The switch asks the gateway to collect an amount from a payer's UPI address; the
payer approves (or declines) the request in their UPI app; the gateway then tells
the switch by a signed callback, and answers status inquiries meanwhile. Money
collected can be refunded. Every request and decision is on disk (DurableLog) before
it is answered, so a restarted gateway keeps its books.

    POST /v1/collect            {"order_id", "amount_paise", "payer_vpa", "callback_url",
                                 "expires_in_s"}  -> 200 {"order_id", "status": "pending"}
                                 (the same order again: its state; another amount: 409)
    GET  /v1/collect/{order}    -> {"order_id", "status", "amount_paise", "gateway_ref"}
                                 status: pending | success | failed | expired
    GET  /v1/app/requests?vpa=  the payer's UPI app: requests waiting for them
    POST /v1/app/requests/{order}  {"approve": true | false}: the payer decides
    POST /v1/refunds            {"refund_id", "order_id", "amount_paise"} -> 200
                                 {"refund_id", "status": "refunded"} (idempotent)
    POST /v1/admin/behaviour    how the gateway misbehaves, below
    GET  /v1/admin/books        every order and refund (for tests and the demo)

A callback is ``POST callback_url`` with the body ``{"order_id", "status",
"amount_paise", "gateway_ref"}`` and ``X-Gateway-Signature: <hex HMAC-SHA256 of the
body's bytes under the shared secret>``.

Behaviour (``/v1/admin/behaviour``, every field optional):

- ``auto``: ``"approve"`` or ``"decline"``: the payer decides by themselves after
  ``auto_after_s`` (load, the demo); ``null``: someone must decide in the app.
- ``callback``: ``"normal"``: one callback; ``"never"``: none (the switch must ask);
  ``"late"``: one, ``late_s`` after the decision; ``"duplicate"``: two, the second
  ``late_s`` after the first.
- ``fail_share``: this share of approved collects fail at the payer's bank anyway.
- ``status_down``: status inquiries answer 503.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from pathlib import Path
from typing import Any

import trio

from simulators.common.http import HttpRequest, JsonApp
from simulators.common.journal import DurableLog
from switch.protocols.http11 import HttpClient, HttpError

MAX_PENDING_CALLBACKS = 10_000
CALLBACK_TIMEOUT_S = 5.0
CALLBACK_TRIES = 5


class GatewaySimulator:
    def __init__(self, data_dir: Path, *, secret: str = "gateway-secret", seed: int = 1) -> None:
        self.secret = secret.encode()
        self.log = DurableLog(data_dir / "gateway.jsonl")
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        for r in self.log.replay():
            (self.orders if r["kind"] == "order" else self.refunds)[r["id"]] = r
        self.behaviour: dict[str, Any] = {
            "auto": None,
            "auto_after_s": 0.2,
            "callback": "normal",
            "late_s": 2.0,
            "fail_share": 0.0,
            "status_down": False,
        }
        self.callbacks_sent = 0
        self._rng = random.Random(seed)
        self._jobs_in, self._jobs_out = trio.open_memory_channel[tuple[float, str]](
            MAX_PENDING_CALLBACKS
        )
        self.app = self._build_app()
        self.app.metrics.expose(lambda: {"sim_gateway_orders": len(self.orders)}, dict)

    # -- the books ---------------------------------------------------------------

    async def _save(self, record: dict[str, Any]) -> None:
        await self.log.append(record)

    def _status(self, order: dict[str, Any]) -> str:
        if order["status"] == "pending" and time.time() > order["expires_at"]:
            return "expired"
        return str(order["status"])

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "order_id": order["id"],
            "status": self._status(order),
            "amount_paise": order["amount_paise"],
            "gateway_ref": order["gateway_ref"],
        }

    async def decide(self, order_id: str, approve: bool) -> dict[str, Any] | None:
        """The payer's answer in their app: the order succeeds or fails (once)."""
        order = self.orders.get(order_id)
        if order is None or self._status(order) != "pending":
            return order
        ok = approve and self._rng.random() >= self.behaviour["fail_share"]
        decided = {"status": "success" if ok else "failed", "decided_at": time.time()}
        order = order | decided | {"auto_pending": False}
        self.orders[order_id] = order
        await self._save(order)
        self._schedule_callbacks(order_id)
        return order

    def _schedule_callbacks(self, order_id: str) -> None:
        mode, late_s = self.behaviour["callback"], float(self.behaviour["late_s"])
        delays = {"normal": [0.0], "never": [], "late": [late_s], "duplicate": [0.0, late_s]}
        for delay in delays.get(mode, [0.0]):
            try:
                self._jobs_in.send_nowait((trio.current_time() + delay, order_id))
            except trio.WouldBlock:
                return  # the switch asks for the status instead

    def signature(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    # -- background: callbacks and the payer's automatic answer -------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for at, order_id in self._jobs_out:
                nursery.start_soon(self._callback_at, at, order_id)

    async def _callback_at(self, at: float, order_id: str) -> None:
        await trio.sleep_until(at)
        order = self.orders[order_id]
        if order.get("auto_pending"):  # the payer's app answers by itself
            await self.decide(order_id, self.behaviour["auto"] == "approve")
            return
        body = json.dumps(self._view(order)).encode()
        base, _, path = order["callback_url"].partition("//")[2].partition("/")
        client = HttpClient(f"http://{base}", max_connections=1, timeout_s=CALLBACK_TIMEOUT_S)
        try:
            for attempt in range(CALLBACK_TRIES):
                try:
                    r = await client.request(
                        "POST", "/" + path, body, {"X-Gateway-Signature": self.signature(body)}
                    )
                    if r.status < 500:
                        self.callbacks_sent += 1
                        return
                except HttpError:
                    pass
                await trio.sleep(0.2 * 2**attempt)
        finally:
            await client.aclose()

    # -- the API --------------------------------------------------------------------

    async def _collect(self, body: Any) -> tuple[int, Any]:
        problem = _collect_problem(body)
        if problem:
            return 400, {"error": "invalid_request", "detail": problem}
        order = self.orders.get(body["order_id"])
        if order is not None:
            if order["amount_paise"] != body["amount_paise"]:
                return 409, {"error": "order_reused", "detail": "another amount for this order"}
            return 200, self._view(order)
        order = {
            "kind": "order",
            "id": body["order_id"],
            "amount_paise": body["amount_paise"],
            "vpa": body["payer_vpa"],
            "callback_url": body["callback_url"],
            "status": "pending",
            "gateway_ref": f"UPI{self._rng.randrange(10**11, 10**12)}",
            "created_at": time.time(),
            "expires_at": time.time() + float(body.get("expires_in_s", 300)),
        }
        self.orders[order["id"]] = order
        await self._save(order)
        if self.behaviour["auto"] in ("approve", "decline"):
            self.orders[order["id"]] = order | {"auto_pending": True}
            delay = float(self.behaviour["auto_after_s"])
            self._jobs_in.send_nowait((trio.current_time() + delay, order["id"]))
        return 200, self._view(order)

    async def _refund(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), t)
            for k, t in (("refund_id", str), ("order_id", str), ("amount_paise", int))
        ):
            return 400, {"error": "invalid_request", "detail": "refund_id, order_id, amount_paise"}
        done = self.refunds.get(body["refund_id"])
        if done is not None:
            return 200, {"refund_id": done["id"], "status": "refunded"}
        order = self.orders.get(body["order_id"])
        if order is None or order["status"] != "success":
            return 409, {"error": "not_refundable", "detail": "no successful collect to refund"}
        if body["amount_paise"] != order["amount_paise"]:
            return 409, {"error": "not_refundable", "detail": "a refund is of the whole amount"}
        refund = {"kind": "refund", "id": body["refund_id"], "order_id": order["id"]}
        refund["amount_paise"] = body["amount_paise"]
        self.refunds[refund["id"]] = refund
        await self._save(refund)
        return 200, {"refund_id": refund["id"], "status": "refunded"}

    def _build_app(self) -> JsonApp:
        app = JsonApp()

        @app.route("POST", "/v1/collect")
        async def collect(req: HttpRequest) -> tuple[int, Any]:
            return await self._collect(req.body)

        @app.route("GET", "/v1/collect/{order}")
        async def status(req: HttpRequest) -> tuple[int, Any]:
            if self.behaviour["status_down"]:
                return 503, {"error": "unavailable"}
            order = self.orders.get(req.params["order"])
            if order is None:
                return 404, {"error": "unknown_order"}
            return 200, self._view(order)

        @app.route("GET", "/v1/app/requests")
        async def inbox(req: HttpRequest) -> tuple[int, Any]:
            vpa = req.query.get("vpa")
            waiting = [
                self._view(o) | {"vpa": o["vpa"]}
                for o in self.orders.values()
                if o["vpa"] == vpa and self._status(o) == "pending"
            ]
            return 200, {"requests": waiting}

        @app.route("POST", "/v1/app/requests/{order}")
        async def answer(req: HttpRequest) -> tuple[int, Any]:
            approve = req.body.get("approve") if isinstance(req.body, dict) else None
            if not isinstance(approve, bool):
                return 400, {"error": "invalid_request", "detail": "approve: true or false"}
            order = await self.decide(req.params["order"], approve)
            if order is None:
                return 404, {"error": "unknown_order"}
            return 200, self._view(order)

        @app.route("POST", "/v1/refunds")
        async def refund(req: HttpRequest) -> tuple[int, Any]:
            return await self._refund(req.body)

        @app.route("POST", "/v1/admin/behaviour")
        async def behave(req: HttpRequest) -> tuple[int, Any]:
            changes = req.body if isinstance(req.body, dict) else {}
            unknown = set(changes) - set(self.behaviour)
            if unknown:
                return 400, {"error": "invalid_request", "detail": f"unknown {sorted(unknown)}"}
            self.behaviour.update(changes)
            return 200, self.behaviour

        @app.route("GET", "/v1/admin/books")
        async def books(req: HttpRequest) -> tuple[int, Any]:
            return 200, {
                "orders": [self._view(o) for o in self.orders.values()],
                "refunds": list(self.refunds.values()),
            }

        return app

    def collected_paise(self) -> int:
        """Money taken from payers and not given back: what the switch must hold as
        paid bills (or still be refunding)."""
        taken = sum(o["amount_paise"] for o in self.orders.values() if o["status"] == "success")
        return int(taken - sum(r["amount_paise"] for r in self.refunds.values()))


def _collect_problem(body: Any) -> str:
    if not isinstance(body, dict):
        return "a JSON object"
    if not isinstance(body.get("order_id"), str) or not 0 < len(body["order_id"]) <= 40:
        return "order_id (str, 1-40 characters)"
    amount = body.get("amount_paise")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return "amount_paise: a positive integer"
    if not isinstance(body.get("payer_vpa"), str) or "@" not in body["payer_vpa"]:
        return "payer_vpa: a UPI address (name@bank)"
    if not isinstance(body.get("callback_url"), str) or not body["callback_url"].startswith(
        "http://"
    ):
        return "callback_url: http://..."
    return ""
