"""An in-process biller with deterministic bills: stands in until real connectors exist.

Consumer accounts are 10 digits not starting with 0; anything else is unknown.
An account ending in 99 has its pays rejected. Amounts are derived from the account,
so a test knows what a fetch will return.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping

import trio

from switch.protocols.billers.base import (
    Bill,
    BillerPayment,
    BillerReceipt,
    BillerRejected,
    ReportedPayment,
    UnknownConsumer,
)

ACCOUNT_RE = re.compile(r"[1-9][0-9]{9}")


def stub_amount_paise(account: str) -> int:
    digest = hashlib.sha256(account.encode()).digest()
    return (int.from_bytes(digest[:4], "big") % 5000 + 100) * 100


class StubConnector:
    def __init__(self, biller_id: str) -> None:
        self.biller_id = biller_id
        self.applied: dict[int, ReportedPayment] = {}

    async def fetch_bill(self, account: str, params: Mapping[str, str] | None = None) -> Bill:
        await trio.lowlevel.checkpoint()
        if not ACCOUNT_RE.fullmatch(account):
            raise UnknownConsumer(account)
        return Bill(
            biller_id=self.biller_id,
            account=account,
            consumer_name=f"Consumer {account[-4:]}",
            amount_due_paise=stub_amount_paise(account),
            due_date=dt.date.today() + dt.timedelta(days=15),
            bill_number=f"B{account}",
        )

    async def pay(self, payment: BillerPayment) -> BillerReceipt:
        await trio.lowlevel.checkpoint()
        if not ACCOUNT_RE.fullmatch(payment.account):
            raise UnknownConsumer(payment.account)
        if payment.account.endswith("99"):
            raise BillerRejected("account_disconnected")
        receipt = BillerReceipt(
            f"{self.biller_id}-{payment.switch_txn_id}", payment.account, payment.amount_paise
        )
        self.applied[payment.switch_txn_id] = ReportedPayment(
            payment.switch_txn_id,
            receipt.biller_txn_id,
            payment.account,
            payment.amount_paise,
            "applied",
            dt.datetime.now(dt.UTC),
        )
        return receipt

    async def aclose(self) -> None:
        pass

    async def reverse(self, switch_txn_id: int) -> None:
        await trio.lowlevel.checkpoint()
        self.applied.pop(switch_txn_id, None)

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        await trio.lowlevel.checkpoint()
        applied = self.applied.get(switch_txn_id)
        if applied is not None:
            return BillerReceipt(applied.biller_txn_id, applied.account, applied.amount_paise)
        return None

    async def report(self, day: dt.date) -> list[ReportedPayment]:
        await trio.lowlevel.checkpoint()
        ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
        return [p for p in self.applied.values() if p.applied_at.astimezone(ist).date() == day]
