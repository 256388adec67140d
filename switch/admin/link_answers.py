"""What the payment links' routes answer, for the admin API's spec (as answers.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from switch.admin.answers import Answer


class Link(Answer):
    id: int
    biller_id: str
    consumer_account: str
    mobile: str
    amount_paise: int
    due_date: dt.date
    state: str = Field(description="open, paid or expired")
    paid_order: str | None
    expires_at: dt.datetime
    created_by: str
    created_at: dt.datetime


class LinkOrder(Answer):
    id: str
    link_id: int
    amount_paise: int
    payer_vpa: str
    state: str = Field(
        description="created, pending, failed, collected, paying, paid, refunding, refunded"
    )
    gateway_ref: str | None
    pay_id: int | None
    failure: str | None
    attempts: int
    next_check_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime


class LinkWithOrders(Link):
    consumer_params: dict[str, str]
    consumer_name: str
    language: str
    arrears_paise: int
    bill_number: str
    bill_ref: str | None
    updated_at: dt.datetime
    past_expiry: bool
    orders: list[LinkOrder]


class DemandResult(Answer):
    account: str
    link_id: int | None = None
    state: str | None = None
    amount_paise: int | None = None
    url: str | None = None
    error: str | None = Field(None, description="why no link went to this consumer")
    detail: str | None = None


class Demand(Answer):
    sent: int
    refused: int
    results: list[DemandResult]


def answers(page: Any) -> dict[tuple[str, str], tuple[int, type[Answer]]]:
    return {
        ("POST", "/v1/billers/{biller_id}/demands"): (200, Demand),
        ("GET", "/v1/links"): (200, page[Link]),
        ("GET", "/v1/links/{link_id}"): (200, LinkWithOrders),
    }
