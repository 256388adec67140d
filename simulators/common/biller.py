"""What every biller simulator shares: consumers, dues, payments, and the HTTP API.

The API (docs/biller-api.md) is the switch's "HTTP/JSON biller API v1":

    GET  /v1/bills/{account}           the bill (404 unknown_consumer)
    POST /v1/payments                  apply a payment; idempotent on switch_txn_id
    GET  /v1/payments/{switch_txn_id}  applied / reversed, or 404 not_found
    POST /v1/reversals                 undo a payment (or refuse it forever if it was
                                       never seen); idempotent
    GET  /v1/report?date=YYYY-MM-DD    every payment of a business date (IST)
    GET  /v1/totals                    counts and sums, for "do the books agree"

Each simulator decides its own payment policy (``check_payment``). Every payment and
reversal is written to a DurableLog before it is answered, and replayed on start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trio

from simulators.common.faults import Fault, FaultInjector
from simulators.common.http import HttpRequest, JsonApp
from simulators.common.journal import DurableLog

IST = ZoneInfo("Asia/Kolkata")
MIN_PAYMENT_PAISE = 100


@dataclass
class Consumer:
    account: str
    name: str
    mobile: str
    amount_due_paise: int  # current bill + arrears - payments; negative = advance credit
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Payment:
    switch_txn_id: int
    biller_txn_id: str
    account: str
    amount_paise: int
    terminal_ref: str
    applied_at: str  # ISO time
    status: str = "applied"  # or "reversed"


class Refused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class BillerSimulator:
    """Subclasses provide ``prefix``, the consumers, the bill's shape and the policy."""

    prefix = "B"

    def __init__(self, consumers: list[Consumer], data_dir: Path, latency_s: float = 0.0) -> None:
        self.consumers = {c.account: c for c in consumers}
        self.payments: dict[int, Payment] = {}
        self.latency_s = latency_s
        self.log = DurableLog(data_dir / f"{self.prefix.lower()}-payments.jsonl")
        self._next_txn = 1
        self._not_yet_durable: dict[int, trio.Event] = {}
        self.tombstones: set[int] = set()  # reversed before they were ever seen
        self.faults = FaultInjector()
        for record in self.log.replay():
            self._apply_record(record)
        self.app = self._build_app()
        self.app.metrics.expose(self._gauges, self._counters)

    # -- policy hooks ------------------------------------------------------------

    def check_payment(self, consumer: Consumer, amount_paise: int) -> None:
        """Raise Refused for a payment this biller does not accept."""
        raise NotImplementedError

    def bill(self, consumer: Consumer) -> dict[str, Any]:
        raise NotImplementedError

    # -- operations ----------------------------------------------------------------

    async def pay(self, body: dict[str, Any], fault: Fault | None = None) -> Payment:
        txn_id, account = body["switch_txn_id"], body["account"]
        amount, ref = body["amount_paise"], body.get("terminal_ref", "")
        if txn_id in self.tombstones:
            raise Refused(409, "reversed")  # reversed before it arrived: never apply it
        existing = self.payments.get(txn_id)
        if existing is not None:
            if (existing.account, existing.amount_paise) != (account, amount):
                raise Refused(409, "switch_txn_id_reused")
            pending = self._not_yet_durable.get(txn_id)
            if pending is not None:
                await pending.wait()  # never answer before the first copy is on disk
            return existing  # a retry: the first answer again
        consumer = self.consumers.get(account)
        mobile = (body.get("params") or {}).get("mobile")  # as at fetch: must be theirs
        if consumer is None or (mobile is not None and mobile != consumer.mobile):
            raise Refused(404, "unknown_consumer")
        self.check_payment(consumer, amount)
        kind = fault.kind if fault is not None else None
        if kind == "skew_amount":
            assert fault is not None
            amount = max(1, amount - fault.skew_paise)
        payment = Payment(
            txn_id,
            f"{self.prefix}{self._next_txn:09d}",
            account,
            amount,
            ref,
            dt.datetime.now(IST).isoformat(),
        )
        if kind == "forget_payment":
            self._next_txn += 1  # answered as applied; never in the books
            return payment
        record = {"op": "pay", **payment.__dict__}
        self._apply_record(record)  # in memory first: a concurrent retry sees it ...
        durable = self._not_yet_durable[txn_id] = trio.Event()
        try:
            await self.log.append(record)  # ... and every answer waits for the disk
        finally:
            durable.set()
            del self._not_yet_durable[txn_id]
        if kind == "skew_amount":  # the books are wrong; the answer is as asked
            return dataclasses.replace(payment, amount_paise=body["amount_paise"])
        return payment

    async def reverse(self, txn_id: int, fault: Fault | None = None) -> Payment | None:
        """Undo a payment; for one never seen, remember the reversal so that the
        payment, if it ever arrives, is refused (None is returned then)."""
        payment = self.payments.get(txn_id)
        if payment is not None and fault is not None and fault.kind == "ignore_reversal":
            return dataclasses.replace(payment, status="reversed")  # said, not done
        if payment is None:
            if txn_id not in self.tombstones:
                record = {"op": "tombstone", "switch_txn_id": txn_id}
                self._apply_record(record)
                await self.log.append(record)
            return None
        if payment.status != "reversed":
            record = {"op": "reverse", "switch_txn_id": txn_id}
            self._apply_record(record)
            await self.log.append(record)
        return payment

    def _apply_record(self, record: dict[str, Any]) -> None:
        if record["op"] == "pay":
            payment = Payment(**{k: v for k, v in record.items() if k != "op"})
            self.payments[payment.switch_txn_id] = payment
            self.consumers[payment.account].amount_due_paise -= payment.amount_paise
            self._next_txn = max(self._next_txn, int(payment.biller_txn_id[len(self.prefix) :]) + 1)
        elif record["op"] == "tombstone":
            self.tombstones.add(record["switch_txn_id"])
        elif record["op"] == "reverse":
            payment = self.payments[record["switch_txn_id"]]
            if payment.status == "applied":
                payment.status = "reversed"
                self.consumers[payment.account].amount_due_paise += payment.amount_paise

    def _gauges(self) -> dict[str, float]:
        t = self.totals()
        return {
            "sim_payments_applied": t["applied_count"],
            "sim_payments_applied_paise": t["applied_paise"],
            "sim_payments_reversed": t["reversed_count"],
            "sim_consumers": len(self.consumers),
        }

    def _counters(self) -> dict[str, int]:
        return {f'sim_faults_fired{{kind="{k}"}}': v for k, v in self.faults.fired.items()}

    def totals(self) -> dict[str, Any]:
        applied = [p for p in self.payments.values() if p.status == "applied"]
        return {
            "applied_count": len(applied),
            "applied_paise": sum(p.amount_paise for p in applied),
            "reversed_count": sum(1 for p in self.payments.values() if p.status == "reversed"),
        }

    # -- HTTP ----------------------------------------------------------------------

    def _build_app(self) -> JsonApp:
        app = JsonApp()

        @app.route("GET", "/v1/bills/{account}")
        async def get_bill(req: HttpRequest) -> tuple[int, Any]:
            await self._latency()
            consumer = self.consumers.get(req.params["account"])
            # A second customer parameter: the registered mobile, if the switch sends
            # one, must be the consumer's (the water biller's catalogue asks for it).
            mobile = req.query.get("mobile")
            if consumer is None or (mobile is not None and mobile != consumer.mobile):
                return 404, {"error": "unknown_consumer"}
            return 200, self.bill(consumer)

        @app.route("POST", "/v1/payments")
        async def post_payment(req: HttpRequest) -> tuple[int, Any]:
            await self._latency()
            problem = _payment_problem(req.body)
            if problem:
                return 400, {"error": "invalid_request", "detail": problem}
            try:
                payment = await self.pay(req.body, req.fault)
            except Refused as exc:
                return exc.status, {"error": exc.code}
            return 200, _misreport(
                _payment_json(payment, self.consumers[payment.account]), req.fault
            )

        @app.route("GET", "/v1/payments/{txn}")
        async def get_payment(req: HttpRequest) -> tuple[int, Any]:
            await self._latency()
            payment = (
                self.payments.get(int(req.params["txn"])) if req.params["txn"].isdigit() else None
            )
            if payment is None:
                return 404, {"error": "not_found"}
            return 200, _misreport(
                _payment_json(payment, self.consumers[payment.account]), req.fault
            )

        @app.route("POST", "/v1/reversals")
        async def post_reversal(req: HttpRequest) -> tuple[int, Any]:
            await self._latency()
            txn = req.body.get("switch_txn_id") if isinstance(req.body, dict) else None
            if not isinstance(txn, int):
                return 400, {"error": "invalid_request"}
            refuse = req.fault is not None and req.fault.kind == "refuse_reversal"
            applied = self.payments.get(txn)
            if refuse and applied is not None and applied.status == "applied":
                return 409, {"error": "not_reversible", "biller_txn_id": applied.biller_txn_id}
            payment = await self.reverse(txn, req.fault)
            if payment is None:
                return 200, {"switch_txn_id": txn, "status": "reversed", "never_applied": True}
            return 200, _payment_json(payment, self.consumers[payment.account])

        @app.route("GET", "/v1/report")
        async def report(req: HttpRequest) -> tuple[int, Any]:
            day = req.query.get("date", "")
            items = [p.__dict__ for p in self.payments.values() if p.applied_at.startswith(day)]
            return 200, {"date": day, "payments": items}

        @app.route("GET", "/v1/totals")
        async def totals(req: HttpRequest) -> tuple[int, Any]:
            return 200, self.totals()

        self._add_admin_routes(app)
        return app

    def _add_admin_routes(self, app: JsonApp) -> None:
        """Fault injection, at run time (simulators/common/faults.py)."""

        @app.route("POST", "/v1/admin/faults")
        async def set_fault(req: HttpRequest) -> tuple[int, Any]:
            try:
                self.faults.set(Fault.parse(req.body))
            except (ValueError, TypeError) as exc:
                return 400, {"error": "invalid_request", "detail": str(exc)}
            return 200, self.faults.describe()

        @app.route("GET", "/v1/admin/faults")
        async def get_faults(req: HttpRequest) -> tuple[int, Any]:
            return 200, self.faults.describe()

        @app.route("DELETE", "/v1/admin/faults")
        async def clear_faults(req: HttpRequest) -> tuple[int, Any]:
            self.faults.clear()
            return 200, self.faults.describe()

    async def _latency(self) -> None:
        if self.latency_s:
            await trio.sleep(self.latency_s)


def _payment_problem(body: Any) -> str:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name, kind in (("switch_txn_id", int), ("account", str), ("amount_paise", int)):
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{name} must be {kind.__name__}"
    if body["amount_paise"] <= 0:
        return "amount_paise must be positive"
    return ""


def _misreport(answer: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
    """The answer as a faulty biller words it (its books stay as they are)."""
    kind = fault.kind if fault is not None else None
    if kind == "other_txn_reply":
        return answer | {"switch_txn_id": answer["switch_txn_id"] + 1}
    if kind == "other_amount_reply":
        assert fault is not None
        return answer | {"amount_paise": max(1, answer["amount_paise"] - fault.skew_paise)}
    if kind == "other_account_reply":
        return answer | {"account": answer["account"][::-1]}
    return answer


def _payment_json(p: Payment, consumer: Consumer) -> dict[str, Any]:
    return {
        "switch_txn_id": p.switch_txn_id,
        "biller_txn_id": p.biller_txn_id,
        "status": p.status,
        "account": p.account,
        "amount_paise": p.amount_paise,
        "applied_at": p.applied_at,
        "amount_due_after_paise": consumer.amount_due_paise,
    }
