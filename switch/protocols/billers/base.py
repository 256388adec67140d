"""What the switch needs from any biller, whatever its wire protocol.

A connector turns these calls into the biller's protocol and the biller's answers
into these values or errors. The error tells the pay flow what it may do next:
``UnknownConsumer`` and ``BillerRejected`` are definite (nothing applied at the
biller); ``BillerUnavailable`` means the request never left (nothing applied);
``OutcomeUnknown`` means it may have been applied: never treat it as a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Bill:
    biller_id: str
    account: str
    consumer_name: str
    amount_due_paise: int
    due_date: dt.date
    bill_number: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BillerPayment:
    switch_txn_id: int
    account: str
    amount_paise: int
    terminal_ref: str
    params: Mapping[str, str] = field(default_factory=dict)  # beyond the account


@dataclass(frozen=True)
class BillerReceipt:
    """What the biller says it applied: its own txn id, and the account and amount it
    applied the payment to (checked against the pay before anything is posted: a
    biller that applied another amount or account is not a success)."""

    biller_txn_id: str
    account: str
    amount_paise: int

    def differs_from(self, account: str, amount_paise: int) -> str | None:
        """Why this receipt is not for that payment (None: it is)."""
        if self.account != account:
            return f"applied to account {self.account!r}, not {account!r}"
        if self.amount_paise != amount_paise:
            return f"applied {self.amount_paise} paise, not {amount_paise}"
        return None


@dataclass(frozen=True)
class ReportedPayment:
    """One line of a biller's daily report: what the biller holds for a payment."""

    switch_txn_id: int | None  # None: the biller does not know our id for it
    biller_txn_id: str
    account: str
    amount_paise: int
    status: str  # applied | reversed
    applied_at: dt.datetime


class BillerError(Exception):
    pass


class UnknownConsumer(BillerError):
    pass


class BillerRejected(BillerError):
    """The biller refused the payment; ``args[0]`` is its reason code."""

    @property
    def reason(self) -> str:
        reason = str(self.args[0]) if self.args else ""
        return reason if reason.replace("_", "").isalnum() else "biller_rejected"


class NotReversible(BillerRejected):
    """The biller applied the payment and will not undo it."""

    def __init__(self, biller_txn_id: str | None) -> None:
        super().__init__("not_reversible")
        self.biller_txn_id = biller_txn_id


class BillerUnavailable(BillerError):
    pass


class BillerBusy(BillerUnavailable):
    """Our own queue for this biller is full: answered at once, nothing was sent."""


class OutcomeUnknown(BillerError):
    pass


class Connector(Protocol):
    async def fetch_bill(self, account: str, params: Mapping[str, str] | None = None) -> Bill:
        """The consumer's bill; ``params``: the catalogue's other customer parameters
        (already checked), for billers that need more than the account to find it."""
        ...

    async def pay(self, payment: BillerPayment) -> BillerReceipt: ...

    async def status(self, switch_txn_id: int) -> BillerReceipt | None:
        """The receipt if the biller applied this payment, None if it never did."""
        ...

    async def reverse(self, switch_txn_id: int) -> None:
        """Make sure this payment is not (or no longer) applied. Returns once the biller
        acknowledges; ``NotReversible`` if it applied it and will not undo it."""
        ...

    async def report(self, day: dt.date) -> list[ReportedPayment]:
        """Every payment the biller applied on this calendar day (IST), for
        reconciliation. ``BillerUnavailable`` if it cannot be had or makes no sense."""
        ...

    async def aclose(self) -> None: ...
