"""The payment gateway, as the switch talks to it: UPI collect requests, their status,
refunds, and the signature on the callbacks it sends.

Every call is idempotent on the order id (a collect, a refund), so a driver that
lost an answer asks again. An answer that is not one the gateway documents is
``GatewayUnclear``: the order stays where it is and is asked about later, never
moved on a guess.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from switch.links.orders import GATEWAY_WORDS
from switch.protocols.http11 import HttpClient, HttpError

SIGNATURE_HEADER = "X-Gateway-Signature"


class GatewayUnclear(Exception):
    """No answer, or one the switch cannot read: try again later."""


class CollectRefused(Exception):
    """The gateway refused the collect request itself (a bad payer address, say)."""


@dataclass(frozen=True)
class GatewayWord:
    order_id: str
    status: str  # pending | success | failed | expired
    amount_paise: int
    gateway_ref: str | None


def read_word(body: Any) -> GatewayWord:
    """A status answer or a callback body, or ValueError saying what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    order_id, status, amount = body.get("order_id"), body.get("status"), body.get("amount_paise")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= 40:
        raise ValueError("order_id: missing")
    if status not in GATEWAY_WORDS:
        raise ValueError(f"status: one of {', '.join(GATEWAY_WORDS)}")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("amount_paise: a positive integer")
    ref = body.get("gateway_ref")
    return GatewayWord(order_id, status, amount, ref if isinstance(ref, str) else None)


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_by_gateway(secret: str, body: bytes, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(signature(secret, body), given.lower())


class Gateway:
    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self._http = HttpClient(endpoint, max_connections=16, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            r = await self._http.post(path, body)
            return r.status, r.json()
        except (HttpError, ValueError) as exc:
            raise GatewayUnclear(f"POST {path}: {exc!r}"[:200]) from exc

    async def collect(
        self, order_id: str, amount_paise: int, vpa: str, callback_url: str, expires_in_s: float
    ) -> None:
        """Ask the payer's UPI app for the amount (the same order again: a no-op)."""
        status, body = await self._post(
            "/v1/collect",
            {
                "order_id": order_id,
                "amount_paise": amount_paise,
                "payer_vpa": vpa,
                "callback_url": callback_url,
                "expires_in_s": expires_in_s,
            },
        )
        if status == 400:
            raise CollectRefused(str(body.get("detail") if isinstance(body, dict) else body))
        if status != 200:
            raise GatewayUnclear(f"collect {order_id}: status {status}")

    async def status(self, order_id: str) -> GatewayWord:
        try:
            r = await self._http.get(f"/v1/collect/{order_id}")
            if r.status != 200:
                raise GatewayUnclear(f"status {order_id}: {r.status}")
            word = read_word(r.json())
        except (HttpError, ValueError) as exc:
            raise GatewayUnclear(f"status {order_id}: {exc!r}"[:200]) from exc
        if word.order_id != order_id:
            raise GatewayUnclear(f"status {order_id}: answered for {word.order_id}")
        return word

    async def refund(self, order_id: str, amount_paise: int) -> None:
        body = {"refund_id": order_id, "order_id": order_id, "amount_paise": amount_paise}
        status, answer = await self._post("/v1/refunds", body)
        if status != 200 or not isinstance(answer, dict) or answer.get("status") != "refunded":
            raise GatewayUnclear(f"refund {order_id}: {status} {str(answer)[:100]}")
