"""The payer's ERP, as the switch talks to it: book a liability for an approved bill
(its document number and TDS, or an invoice failure), and ask later whether a booked
liability still stands. Every call is idempotent on the invoice id (the bill's id),
so a driver that lost an answer asks again. An answer the switch cannot read is
``ErpUnclear``: the bill stays where it is and is asked about on the next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switch.protocols.http11 import HttpClient, HttpError


class ErpUnclear(Exception):
    """No answer, or one that cannot be read: try again later."""


@dataclass(frozen=True)
class ErpWord:
    status: str  # posted | invoice_failure | liability_failure
    document_no: str | None = None
    tds_paise: int | None = None
    reason: str | None = None


def read_word(body: Any) -> ErpWord:
    if not isinstance(body, dict) or body.get("status") not in (
        "posted",
        "invoice_failure",
        "liability_failure",
    ):
        raise ValueError(f"not an ERP answer: {str(body)[:100]}")
    if body["status"] == "posted":
        doc, tds = body.get("document_no"), body.get("tds_paise")
        if not isinstance(doc, str) or not isinstance(tds, int) or tds < 0:
            raise ValueError("a posted liability without its document number and TDS")
        return ErpWord("posted", doc, tds)
    return ErpWord(body["status"], reason=str(body.get("reason") or "no reason given")[:300])


class Erp:
    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self._http = HttpClient(endpoint, max_connections=4, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def book(self, invoice: dict[str, Any]) -> ErpWord:
        try:
            r = await self._http.post("/v1/liabilities", invoice)
            if r.status != 200:
                raise ErpUnclear(f"book {invoice['invoice_id']}: {r.status}")
            return read_word(r.json())
        except (HttpError, ValueError) as exc:
            raise ErpUnclear(f"book {invoice['invoice_id']}: {exc!r}"[:200]) from exc

    async def status(self, invoice_id: str) -> ErpWord:
        try:
            r = await self._http.get(f"/v1/liabilities/{invoice_id}")
            if r.status != 200:
                raise ErpUnclear(f"status {invoice_id}: {r.status}")
            return read_word(r.json())
        except (HttpError, ValueError) as exc:
            raise ErpUnclear(f"status {invoice_id}: {exc!r}"[:200]) from exc
