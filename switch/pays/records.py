"""A pay as the switch stores it, and what reading and moving one can raise.

A pay is one row in ``pays``, named by (terminal, terminal reference); its id is the
switch transaction id and says the month it was made in (``switch/history/``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg

from switch.pays.states import PayState
from switch.sms import Sms, render


@dataclass(frozen=True)
class Pay:
    id: int
    terminal_id: str
    terminal_ref: str
    agent_id: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    mobile: str | None
    state: PayState
    error_code: str | None
    biller_txn_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lease_until: dt.datetime | None = None
    lease_owner: str | None = None
    biller_code: str | None = None  # a biller's own refusal code (error_code: ours)
    # The customer parameters beyond the account (the biller's catalogue entry).
    consumer_params: Mapping[str, str] = field(default_factory=dict)
    # The way it came in: "terminal", or "partner" (terminal_id is then the partner's
    # id and terminal_ref its idempotency key).
    channel: str = "terminal"
    language: str = "en"  # of the depositor's SMS (chosen when the pay was made)

    def leased_to_another(self, me: str) -> bool:
        """Another switch process holds this pay's lease (it is driving it)."""
        if self.lease_owner in (None, me) or self.lease_until is None:
            return False
        return self.lease_until > dt.datetime.now(dt.UTC)

    def same_request(
        self,
        biller_id: str,
        account: str,
        amount_paise: int,
        params: Mapping[str, str] | None = None,
    ) -> bool:
        return (self.biller_id, self.consumer_account, self.amount_paise) == (
            biller_id,
            account,
            amount_paise,
        ) and dict(self.consumer_params) == dict(params or {})


@dataclass(frozen=True)
class NewPay:
    """A pay request as a terminal or partner made it: who, to whom, for how much."""

    terminal_id: str
    ref: str  # the terminal's reference: (terminal_id, ref) names the pay
    agent_id: str
    biller_id: str
    account: str
    amount_paise: int
    mobile: str | None = None  # the depositor's, for the SMS receipt
    params: Mapping[str, str] = field(default_factory=dict)  # beyond the account
    channel: str = "terminal"  # or "partner": the way it came in
    language: str | None = None  # of the SMS, where the request names one


class PayConflict(Exception):
    """The pay was moved by someone else between our read and our write."""


class PayArchived(PayConflict):
    """The (terminal, ref) named a pay whose month was archived: a reference is used
    once, for ever, so the request is refused rather than made a second pay."""


_LATER = {"en": "to follow", "hi": "बाद में"}


def sms_text(
    pay: Pay,
    state: PayState,
    error_code: str | None,
    biller_txn: str | None,
    receipt_url: str | None = None,
) -> Sms:
    """The depositor's SMS, in the pay's language: a receipt (with the link to its
    PDF, where the switch has one), or a failure and what to do: collect the cash at
    a terminal, or wait for the money to go back where it came from."""
    fields = {
        "amount": f"Rs {pay.amount_paise // 100}.{pay.amount_paise % 100:02d}",
        "biller": pay.biller_id,
        "account": pay.consumer_account,
        "txn": pay.id,
    }
    if state is PayState.POSTED:
        label = "रसीद" if pay.language == "hi" else "Receipt"
        return render(
            "pay_posted",
            pay.language,
            **fields,
            biller_ref=biller_txn or pay.biller_txn_id or _LATER[pay.language],
            ref=pay.terminal_ref,
            receipt=f" {label}: {receipt_url}" if receipt_url else "",
        )
    reason = (error_code or pay.error_code or "failed").replace("_", " ")
    key = "pay_failed_cash" if pay.channel == "terminal" else "pay_failed_refund"
    return render(key, pay.language, **fields, reason=reason)


def pay_from_row(row: asyncpg.Record) -> Pay:
    return Pay(
        id=row["id"],
        terminal_id=row["terminal_id"],
        terminal_ref=row["terminal_ref"],
        agent_id=row["agent_id"],
        biller_id=row["biller_id"],
        consumer_account=row["consumer_account"],
        amount_paise=row["amount_paise"],
        mobile=row["mobile"],
        state=PayState(row["state"]),
        error_code=row["error_code"],
        biller_txn_id=row["biller_txn_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lease_until=row["lease_until"],
        lease_owner=row["lease_owner"],
        biller_code=row["biller_code"],
        consumer_params=_params(row["consumer_params"]),
        channel=row["channel"],
        language=row["language"],
    )


def _params(stored: str | dict[str, str] | None) -> dict[str, str]:
    """The jsonb column as asyncpg gives it (text), or as a test's fake gives it."""
    if stored is None:
        return {}
    return json.loads(stored) if isinstance(stored, str) else dict(stored)
