"""What each answer of the partner API holds, for its OpenAPI spec (the routes build
dicts; tests/partners/test_partner_spec.py checks what they send against these).
Money is integer paise; times are ISO 8601 with their offset."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switch.admin.answers import CatalogueEntry


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Catalogue(Answer):
    version: str = Field(description="send it back as ?version= to be told only of changes")
    billers: list[CatalogueEntry] | None = Field(
        None, description="absent when the version sent is the current one"
    )


class Bill(Answer):
    biller: str
    account: str
    name: str
    amount_paise: int
    due_date: dt.date
    bill_number: str
    mobile: str | None
    bill_ref: str = Field(description="send it with the pay: binds biller, consumer, amount")


class Receipt(Answer):
    txn: int = Field(description="the switch transaction id")
    biller_txn: str | None
    ref: str = Field(description="your Idempotency-Key")
    biller: str
    account: str
    amount_paise: int
    time_ms: int


class PayResult(Answer):
    ref: str = Field(description="your Idempotency-Key")
    txn: int
    status: Literal["success", "failed", "pending"]
    receipt: Receipt | None = Field(None, description="when success")
    code: str | None = Field(None, description="when failed: why (insufficient_funds, ...)")
    biller_code: str | None = Field(None, description="the biller's own code, if it refused")


class Account(Answer):
    partner: str
    balance_paise: int
    per_txn_paise: int
    per_day_paise: int
    frozen: bool


class ComplaintEvent(Answer):
    action: str
    from_state: str | None
    to_state: str
    note: str | None
    at: dt.datetime


class Complaint(Answer):
    id: int
    ref: str | None = Field(description="the Idempotency-Key of the pay complained about")
    txn: int | None
    category: str
    description: str
    state: Literal["logged", "assigned", "escalated", "resolved", "closed"]
    due_at: dt.datetime = Field(description="the turnaround: escalated if not resolved by then")
    created_at: dt.datetime
    resolution: str | None
    refund_paise: int | None


class ComplaintWithHistory(Complaint):
    history: list[ComplaintEvent]
