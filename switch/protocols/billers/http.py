"""The HTTP/JSON biller connector (docs/biller-api.md), on switch.protocols.http11.

One pooled client per biller (``max_concurrency`` connections) and a deadline on
every call. How answers map to what the pay flow may do:

| call | answer | meaning |
|---|---|---|
| any | could not connect | ``BillerUnavailable``: nothing was sent |
| fetch | 200 / 404 unknown_consumer | ``Bill`` / ``UnknownConsumer`` |
| fetch | anything else, timeout | ``BillerUnavailable`` (a fetch changes nothing) |
| pay | 200 applied, for our txn id, with its txn id, account, amount | ``BillerReceipt`` |
| pay | 422 {error} / 404 unknown_consumer | ``BillerRejected(error)`` / ``UnknownConsumer`` |
| pay | timeout, reset, 5xx, garbage, another txn id | ``OutcomeUnknown``: may have applied |
| status | 200 applied / 200 reversed or 404 | ``BillerReceipt`` / ``None`` |
| status | anything else | ``OutcomeUnknown`` |
| report | 200 {payments: [...]} | ``ReportedPayment`` list |
| report | anything else, a malformed line | ``BillerUnavailable`` (reconcile later) |
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from switch.protocols.billers.base import (
    Bill,
    BillerPayment,
    BillerReceipt,
    BillerRejected,
    BillerUnavailable,
    NotReversible,
    OutcomeUnknown,
    ReportedPayment,
    UnknownConsumer,
)
from switch.protocols.http11 import (
    MAX_RESPONSE_BYTES,
    ConnectFailed,
    HttpClient,
    HttpError,
    Response,
)


class HttpConnector:
    def __init__(
        self,
        biller_id: str,
        endpoint: str,
        *,
        timeout_s: float,
        max_concurrency: int,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.biller_id = biller_id
        self._client = HttpClient(
            endpoint,
            max_connections=max_concurrency,
            timeout_s=timeout_s,
            connect_timeout_s=min(timeout_s, 2.0),
            max_response_bytes=max_response_bytes,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch_bill(self, account: str, params: Mapping[str, str] | None = None) -> Bill:
        query = f"?{urlencode(sorted(params.items()))}" if params else ""
        try:
            r = await self._client.get(f"/v1/bills/{account}{query}")
        except HttpError as exc:
            raise BillerUnavailable(f"{self.biller_id}: {exc!r}") from exc
        body = _json(r)
        if r.status == 404 and body.get("error") == "unknown_consumer":
            raise UnknownConsumer(account)
        try:
            if r.status != 200:
                raise ValueError(f"status {r.status}")
            if body.get("account") != account:  # e.g. a duplicated earlier reply
                raise ValueError(f"answer is for account {body.get('account')!r}")
            return Bill(
                biller_id=self.biller_id,
                account=body["account"],
                consumer_name=body["name"],
                amount_due_paise=_int(body["amount_due_paise"]),
                due_date=dt.date.fromisoformat(body["due_date"]),
                bill_number=body["bill_number"],
                details={"mobile": body.get("mobile"), **body.get("details", {})},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BillerUnavailable(f"{self.biller_id}: bad bill answer: {exc}") from exc

    async def pay(self, payment: BillerPayment) -> BillerReceipt:
        body = {
            "switch_txn_id": payment.switch_txn_id,
            "account": payment.account,
            "amount_paise": payment.amount_paise,
            "terminal_ref": payment.terminal_ref,
        }
        if payment.params:
            body["params"] = dict(payment.params)
        try:
            r = await self._client.post("/v1/payments", body)
        except ConnectFailed as exc:
            raise BillerUnavailable(f"{self.biller_id}: {exc!r}") from exc
        except HttpError as exc:  # sent, or maybe sent: the outcome is unknown
            raise OutcomeUnknown(f"{self.biller_id}: {exc!r}") from exc
        answer = _json(r)
        if r.status == 404 and answer.get("error") == "unknown_consumer":
            raise UnknownConsumer(payment.account)
        if r.status == 422 and isinstance(answer.get("error"), str):
            raise BillerRejected(answer["error"])
        return _receipt(r, answer, payment.switch_txn_id)

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        try:
            r = await self._client.get(f"/v1/payments/{switch_txn_id}")
        except ConnectFailed as exc:
            raise BillerUnavailable(f"{self.biller_id}: {exc!r}") from exc
        except HttpError as exc:
            raise OutcomeUnknown(f"{self.biller_id}: {exc!r}") from exc
        answer = _json(r)
        if r.status == 404 and answer.get("error") == "not_found":
            return None
        if r.status == 200 and answer.get("status") == "reversed":
            return None
        return _receipt(r, answer, switch_txn_id)

    async def reverse(self, switch_txn_id: int) -> None:
        try:
            r = await self._client.post("/v1/reversals", {"switch_txn_id": switch_txn_id})
        except ConnectFailed as exc:
            raise BillerUnavailable(f"{self.biller_id}: {exc!r}") from exc
        except HttpError as exc:
            raise OutcomeUnknown(f"{self.biller_id}: {exc!r}") from exc
        answer = _json(r)
        if r.status == 409 and answer.get("error") == "not_reversible":
            txn = answer.get("biller_txn_id")
            raise NotReversible(txn if isinstance(txn, str) else None)
        if r.status != 200 or answer.get("status") != "reversed":
            raise OutcomeUnknown(f"unexpected reversal answer {r.status}: {str(answer)[:200]}")

    async def report(self, day: dt.date) -> list[ReportedPayment]:
        try:
            r = await self._client.get(f"/v1/report?date={day.isoformat()}")
        except HttpError as exc:  # ConnectFailed included: nothing to reconcile yet
            raise BillerUnavailable(f"{self.biller_id} report: {exc!r}") from exc
        answer = _json(r)
        items = answer.get("payments")
        if r.status != 200 or not isinstance(items, list):
            raise BillerUnavailable(f"{self.biller_id} report {r.status}: {str(answer)[:200]}")
        try:
            return [_reported(item) for item in items]
        except (TypeError, ValueError, KeyError) as exc:
            raise BillerUnavailable(f"{self.biller_id} report has a bad line: {exc}") from exc


def _reported(item: Any) -> ReportedPayment:
    if not isinstance(item, dict):
        raise TypeError(f"a report line must be an object, got {item!r}")
    txn = item.get("switch_txn_id")
    status = item["status"]
    if status not in ("applied", "reversed"):
        raise ValueError(f"unknown status {status!r}")
    applied_at = dt.datetime.fromisoformat(item["applied_at"])
    if applied_at.tzinfo is None:
        raise ValueError(f"applied_at without a time zone: {item['applied_at']!r}")
    biller_txn, account = item["biller_txn_id"], item["account"]
    if not isinstance(biller_txn, str) or not isinstance(account, str):
        raise TypeError("biller_txn_id and account must be strings")
    return ReportedPayment(
        None if txn is None else _int(txn),
        biller_txn,
        account,
        _int(item["amount_paise"]),
        status,
        applied_at,
    )


def _json(r: Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _receipt(r: Response, answer: dict[str, Any], txn_id: int) -> BillerReceipt:
    """An "applied" answer for ``txn_id``; anything else (another txn id, a field
    missing or of the wrong type) is an outcome we cannot know from this answer."""
    txn, account, amount = (answer.get(k) for k in ("biller_txn_id", "account", "amount_paise"))
    applied = r.status == 200 and answer.get("status") == "applied"
    if not applied or answer.get("switch_txn_id") != txn_id:
        raise OutcomeUnknown(f"unexpected answer {r.status}: {str(answer)[:200]}")
    if not isinstance(txn, str) or not isinstance(account, str) or type(amount) is not int:
        raise OutcomeUnknown(f"an applied answer with bad fields: {str(answer)[:200]}")
    return BillerReceipt(txn, account, amount)
