"""An organisation's ERP (an SAP-like finance system) that books a liability for
each approved electricity bill before it may be paid.

The ERP checks an invoice against its meter master and vendor master: the site's
consumer account and meter, its cost centre and the discom's vendor code must be
known, and the same discom invoice must not be booked twice. A good invoice gets a
liability document number, and TDS is deducted at the configured rate; the net
payable is what the organisation owes the discom.

    POST /v1/liabilities  {"invoice_id", "consumer_account", "meter_no", "cost_centre",
                           "vendor_code", "bill_no", "gross_paise"}
        -> 200 {"invoice_id", "status": "posted", "document_no", "tds_paise",
                "net_payable_paise"}
        -> 200 {"invoice_id", "status": "invoice_failure", "reason"}   (IF)
        (a posted invoice again: the same answer; one that failed: looked at again)
    GET  /v1/liabilities/{invoice_id}
        -> {"invoice_id", "status": posted | invoice_failure | liability_failure, ...}
    POST /v1/admin/masters   {"meters": {"<account>": "<meter>"}, "cost_centres": [...],
                              "vendor_codes": [...], "tds_percent": "2"}
    POST /v1/admin/liability_failure  {"invoice_id", "reason"}: a booked liability
        fails later (LF), as when the AO reverses it
    GET  /v1/admin/books

Invoice failure reasons: "No Cost Centre found", "Vendor Code not defined", "Meter
not in the meter master", "Invoice already posted by document number <n>".
Every booking is on disk (DurableLog) before it is answered.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from simulators.common.http import HttpRequest, JsonApp
from simulators.common.journal import DurableLog


class ErpSimulator:
    def __init__(self, data_dir: Path) -> None:
        self.log = DurableLog(data_dir / "erp.jsonl")
        self.meters: dict[str, str] = {}
        self.cost_centres: set[str] = set()
        self.vendor_codes: set[str] = set()
        self.tds_percent = Decimal(0)
        self.invoices: dict[str, dict[str, Any]] = {}
        for r in self.log.replay():
            if r["kind"] == "masters":
                self._set_masters(r)
            else:
                self.invoices[r["invoice_id"]] = r
        self.app = self._build_app()
        self.app.metrics.expose(lambda: {"sim_erp_invoices": len(self.invoices)}, dict)

    def _set_masters(self, m: dict[str, Any]) -> None:
        self.meters |= dict(m.get("meters", {}))
        self.cost_centres |= set(m.get("cost_centres", []))
        self.vendor_codes |= set(m.get("vendor_codes", []))
        if "tds_percent" in m:
            self.tds_percent = Decimal(str(m["tds_percent"]))

    def _failure(self, body: dict[str, Any]) -> str | None:
        if body["cost_centre"] not in self.cost_centres:
            return "No Cost Centre found"
        if body["vendor_code"] not in self.vendor_codes:
            return "Vendor Code not defined"
        if self.meters.get(body["consumer_account"]) != body["meter_no"]:
            return "Meter not in the meter master"
        for other in self.invoices.values():
            same = (other.get("consumer_account"), other.get("bill_no"))
            if other["invoice_id"] == body["invoice_id"] or other["status"] != "posted":
                continue
            if same == (body["consumer_account"], body["bill_no"]):
                return f"Invoice already posted by document number {other['document_no']}"
        return None

    async def book(self, body: dict[str, Any]) -> dict[str, Any]:
        known = self.invoices.get(body["invoice_id"])
        if known is not None and known["status"] == "posted":
            return _view(
                known
            )  # booked: the same answer (a resubmitted IF or LF is looked at again)
        why = self._failure(body)
        record: dict[str, Any] = {
            "kind": "invoice",
            "invoice_id": body["invoice_id"],
            "consumer_account": body["consumer_account"],
            "bill_no": body["bill_no"],
            "gross_paise": body["gross_paise"],
        }
        if why is not None:
            record |= {"status": "invoice_failure", "reason": why}
        else:
            tds = Fraction(body["gross_paise"]) * Fraction(self.tds_percent) / 100
            tds_paise = int(tds + Fraction(1, 2))  # half up
            n = sum(1 for i in self.invoices.values() if "document_no" in i) + 1
            record |= {
                "status": "posted",
                "document_no": f"51{n:08d}",
                "tds_paise": tds_paise,
                "net_payable_paise": body["gross_paise"] - tds_paise,
            }
        await self.log.append(record)
        self.invoices[record["invoice_id"]] = record
        return _view(record)

    def _build_app(self) -> JsonApp:
        app = JsonApp()

        @app.route("POST", "/v1/liabilities")
        async def book(req: HttpRequest) -> tuple[int, Any]:
            body = req.body
            problem = _problem(body)
            if problem:
                return 422, {"error": problem}
            return 200, await self.book(body)

        @app.route("GET", "/v1/liabilities/{invoice}")
        async def status(req: HttpRequest) -> tuple[int, Any]:
            known = self.invoices.get(req.params["invoice"])
            return (404, {"error": "no such invoice"}) if known is None else (200, _view(known))

        @app.route("POST", "/v1/admin/masters")
        async def masters(req: HttpRequest) -> tuple[int, Any]:
            body = req.body
            try:
                record = {"kind": "masters"} | dict(body)
                self._set_masters(record)
            except (TypeError, ValueError, InvalidOperation) as exc:
                return 422, {"error": repr(exc)}
            await self.log.append(record)
            return 200, {"ok": True}

        @app.route("POST", "/v1/admin/liability_failure")
        async def fail(req: HttpRequest) -> tuple[int, Any]:
            body = req.body
            known = (
                self.invoices.get(str(body.get("invoice_id"))) if isinstance(body, dict) else None
            )
            if known is None or known["status"] != "posted":
                return 409, {"error": "no posted liability for that invoice"}
            known = known | {"status": "liability_failure", "reason": str(body.get("reason"))}
            await self.log.append(known)
            self.invoices[known["invoice_id"]] = known
            return 200, _view(known)

        @app.route("GET", "/v1/admin/books")
        async def books(req: HttpRequest) -> tuple[int, Any]:
            return 200, {"invoices": list(self.invoices.values())}

        return app


def _view(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("invoice_id", "status", "document_no", "tds_paise", "net_payable_paise", "reason")
    return {k: r[k] for k in keys if k in r}


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "not a JSON object"
    for key in ("invoice_id", "consumer_account", "meter_no", "cost_centre", "vendor_code",
                "bill_no"):  # fmt: skip
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key}: missing"
    gross = body.get("gross_paise")
    if not isinstance(gross, int) or isinstance(gross, bool) or gross < 0:
        return "gross_paise: a whole number of paise"
    return None
