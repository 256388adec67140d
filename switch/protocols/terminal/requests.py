"""Typed terminal requests: one frozen dataclass per kind that the switch answers.

The codec validates a request's fields once, against its schema in
``messages.REQUESTS``, and builds one of these (``typed``); everything after that
(the session actor, the terminal service) handles a typed value, never a dict of
strings. ``ping`` and ``bye`` carry nothing and are answered by the session itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PAGE = 50


@dataclass(frozen=True)
class FetchBill:
    rid: int
    biller: str
    account: str  # the first customer parameter (the catalogue's)
    params: Mapping[str, str] = field(default_factory=dict)  # the others, by name


@dataclass(frozen=True)
class PayRequest:
    rid: int
    ref: str  # the terminal's own reference: the pay's identity, retries included
    biller: str
    account: str
    amount_paise: int
    mobile: str | None  # the depositor's, for the SMS receipt
    params: Mapping[str, str] = field(default_factory=dict)
    bill_ref: str | None = None  # from the fetch_bill answer: the bill being paid


@dataclass(frozen=True)
class StatusRequest:
    rid: int
    ref: str


@dataclass(frozen=True)
class ListPayments:
    rid: int
    first: dt.date
    last: dt.date
    limit: int = DEFAULT_PAGE
    after: int = 0  # the last txn of the previous page


@dataclass(frozen=True)
class SummaryRequest:
    rid: int
    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class CatalogueRequest:
    rid: int
    version: str | None  # the catalogue version the terminal holds, if any


TerminalRequest = (
    FetchBill | PayRequest | StatusRequest | ListPayments | SummaryRequest | CatalogueRequest
)


def typed(kind: str, f: Mapping[str, Any]) -> TerminalRequest | None:
    """The typed request for fields already validated by the kind's schema; None for
    the kinds the session answers itself (ping, bye)."""
    if kind == "fetch_bill":
        return FetchBill(f["rid"], f["biller"], f["account"], f.get("params", {}))
    if kind == "pay":
        return PayRequest(
            f["rid"],
            f["ref"],
            f["biller"],
            f["account"],
            f["amount_paise"],
            f.get("mobile"),
            f.get("params", {}),
            f.get("bill_ref"),
        )
    if kind == "status":
        return StatusRequest(f["rid"], f["ref"])
    if kind == "list_payments":
        return ListPayments(
            f["rid"], f["from"], f["to"], f.get("limit", DEFAULT_PAGE), f.get("after", 0)
        )
    if kind == "summary":
        return SummaryRequest(f["rid"], f["from"], f["to"])
    if kind == "catalogue":
        return CatalogueRequest(f["rid"], f.get("version"))
    assert kind in ("ping", "bye"), kind
    return None
