"""What a terminal can ask for, answered as protocol messages (docs/protocol.md).

One method per request kind, each taking its typed request
(``switch/protocols/terminal/requests.py``); ``handle`` dispatches through a table
keyed by the request's type. Each returns the answer's body (a dict, checked against
its schema in ``messages.ANSWERS`` before it is sent) or raises ``RequestFailed``
with a protocol error code; the session actor adds ``rid`` and sends it. Nothing
here knows about sockets or frames.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from switch.catalogue import amounts
from switch.catalogue import params as consumer_params
from switch.catalogue.billrefs import BadBillRef, BillRefs
from switch.catalogue.entries import Catalogue
from switch.config import BillerConfig
from switch.ledger import LedgerBusy, LedgerUnavailable
from switch.pays.flow import Biller, PayFlow
from switch.pays.limits import WalletPolicy
from switch.pays.machine import terminal_code
from switch.pays.states import PayState
from switch.pays.store import NewPay, Pay, PayArchived, PayConflict, PayStore
from switch.protocols.billers.base import (
    Bill,
    BillerBusy,
    BillerUnavailable,
    OutcomeUnknown,
    UnknownConsumer,
)
from switch.protocols.terminal.errors import ErrorCode
from switch.protocols.terminal.requests import (
    CatalogueRequest,
    FetchBill,
    ListPayments,
    PayRequest,
    StatusRequest,
    SummaryRequest,
    TerminalRequest,
)

MAX_RANGE_DAYS = 366
Handler = Callable[["TerminalContext", Any], Awaitable[dict[str, Any]]]


class RequestFailed(Exception):
    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message or code.spec.meaning


@dataclass(frozen=True)
class TerminalContext:
    """Who is asking: fixed for the life of an authenticated session (a terminal's),
    or of one signed request (a partner's: ``terminal_id`` and ``agent_id`` are then
    both the partner's id, and a pay's ref is the partner's idempotency key)."""

    terminal_id: str
    agent_id: str
    wallet_account_id: int
    channel: str = "terminal"
    language: str | None = None  # of the depositor's SMS, where the request names one


class TerminalService:
    def __init__(
        self,
        store: PayStore,
        flow: PayFlow,
        billers: Mapping[str, Biller],
        answer_within_s: float = 8.0,
        policy: WalletPolicy | None = None,
        catalogue: Catalogue | None = None,
        bill_refs: BillRefs | None = None,
    ) -> None:
        self._store = store
        self.store = store  # its records (the server sets the SMS's receipt links there)
        self._catalogue = catalogue
        self._bill_refs = bill_refs
        self._flow = flow
        self._billers = billers
        self._answer_within_s = answer_within_s
        self._policy = policy
        self._handlers: dict[type, Handler] = {
            FetchBill: self.fetch_bill,
            PayRequest: self.pay,
            StatusRequest: self.status,
            ListPayments: self.list_payments,
            SummaryRequest: self.summary,
            CatalogueRequest: self.catalogue,
        }

    def _biller(self, biller_id: str, channel: str) -> Biller:
        """The biller, if it takes pays through this channel (its catalogue entry's
        ``channels``): to any other channel it is as if unknown."""
        biller = self._billers.get(biller_id)
        if biller is None:
            raise RequestFailed(ErrorCode.UNKNOWN_BILLER, f"no biller {biller_id!r}")
        rules = self._rules(biller_id)
        if rules is not None and channel not in rules.channels:
            raise RequestFailed(
                ErrorCode.UNKNOWN_BILLER, f"biller {biller_id} is not offered to the {channel}s"
            )
        return biller

    async def handle(self, ctx: TerminalContext, req: TerminalRequest) -> dict[str, Any]:
        """The answer to ``req`` (or ``RequestFailed``)."""
        handler: Handler = self._handlers[type(req)]
        return await handler(ctx, req)

    async def catalogue(self, ctx: TerminalContext, f: CatalogueRequest) -> dict[str, Any]:
        """The billers this switch pays, and what each asks of a consumer."""
        if self._catalogue is None:
            raise RequestFailed(ErrorCode.UNAVAILABLE, "no catalogue loaded")
        return self._catalogue.answer(f.version)

    def _rules(self, biller_id: str) -> BillerConfig | None:
        """The biller's catalogue entry (None: a switch built without one, in tests)."""
        return self._catalogue.billers.get(biller_id) if self._catalogue else None

    def _params(
        self, rules: BillerConfig | None, account: str, given: Mapping[str, str]
    ) -> dict[str, str]:
        if rules is None:
            return dict(given)
        try:
            return consumer_params.check(rules, account, given)
        except consumer_params.BadParams as exc:
            raise RequestFailed(ErrorCode.INVALID_REQUEST, str(exc)) from exc

    async def fetch_bill(self, ctx: TerminalContext, f: FetchBill) -> dict[str, Any]:
        return (await self.fetch_bill_with_details(ctx, f))[0]

    async def fetch_bill_with_details(
        self, ctx: TerminalContext, f: FetchBill
    ) -> tuple[dict[str, Any], Mapping[str, Any]]:
        """The fetch's answer, and the biller's own details of the bill (arrears,
        meter readings: what a payment link's page shows)."""
        biller = self._biller(f.biller, ctx.channel)
        extra = self._params(self._rules(biller.id), f.account, f.params)
        try:
            bill = await biller.connector.fetch_bill(f.account, extra)
        except UnknownConsumer as exc:
            raise RequestFailed(ErrorCode.UNKNOWN_CONSUMER, f"{f.account} at {biller.id}") from exc
        except BillerBusy as exc:
            raise RequestFailed(ErrorCode.BUSY, str(exc)) from exc
        except (BillerUnavailable, OutcomeUnknown) as exc:
            raise RequestFailed(ErrorCode.BILLER_UNAVAILABLE, str(exc)) from exc
        return self._bill_answer(biller.id, f.account, extra, bill), bill.details

    def _bill_answer(
        self, biller_id: str, account: str, extra: Mapping[str, str], bill: Bill
    ) -> dict[str, Any]:
        return {
            "type": "bill",
            "biller": bill.biller_id,
            "account": bill.account,
            "name": bill.consumer_name,
            "amount_paise": bill.amount_due_paise,
            "due_date": bill.due_date.isoformat(),
            "bill_number": bill.bill_number,
            "mobile": bill.details.get("mobile"),
            **self._bill_ref(biller_id, account, extra, bill.amount_due_paise),
        }

    def _bill_ref(
        self, biller_id: str, account: str, extra: Mapping[str, str], due_paise: int
    ) -> dict[str, str]:
        if self._bill_refs is None:
            return {}
        consumer = consumer_params.digest(account, extra)
        return {"bill_ref": self._bill_refs.issue(biller_id, consumer, due_paise, time.time())}

    async def _check_bill(
        self, ctx: TerminalContext, f: PayRequest, rules: BillerConfig
    ) -> dict[str, str]:
        """A pay against the biller's catalogue entry, before anything is recorded or
        held: its parameters, the bill it names (or the lack of one), its amount. The
        parameters beyond the account, checked."""
        extra = self._params(rules, f.account, f.params)
        due: int | None = None
        if f.bill_ref is None:
            if rules.fetch_required or rules.amount_rule == "exact":
                raise RequestFailed(ErrorCode.FETCH_REQUIRED, f"{rules.id}: fetch the bill first")
        else:
            due = await self._bill_due(ctx, f, rules, extra)
        why = amounts.refusal(rules, f.amount_paise, due)
        if why is not None:
            raise RequestFailed(ErrorCode.INVALID_AMOUNT, why)
        return extra

    async def _bill_due(
        self, ctx: TerminalContext, f: PayRequest, rules: BillerConfig, extra: Mapping[str, str]
    ) -> int:
        assert f.bill_ref is not None
        if self._bill_refs is None:
            raise RequestFailed(ErrorCode.BILL_MISMATCH, "this switch issues no bill references")
        try:
            ref = self._bill_refs.read(f.bill_ref)
        except BadBillRef as exc:
            raise RequestFailed(ErrorCode.BILL_MISMATCH, str(exc)) from exc
        if ref.biller_id != rules.id or ref.consumer != consumer_params.digest(f.account, extra):
            raise RequestFailed(ErrorCode.BILL_MISMATCH, "the bill is another consumer's")
        # A retry of a pay already made is answered with its outcome, however old its
        # bill: only a new pay needs a bill still current.
        if ref.expired(time.time()) and await self._store.by_ref(ctx.terminal_id, f.ref) is None:
            raise RequestFailed(ErrorCode.BILL_MISMATCH, "the bill has expired: fetch it again")
        return ref.due_paise

    async def pay(self, ctx: TerminalContext, f: PayRequest) -> dict[str, Any]:
        biller = self._biller(f.biller, ctx.channel)
        rules = self._rules(biller.id)
        extra = dict(f.params) if rules is None else await self._check_bill(ctx, f, rules)
        # Refused before anything is recorded or held.
        refusal = biller.gate.refusal() if biller.gate is not None else None
        if refusal == "unavailable":
            raise RequestFailed(ErrorCode.BILLER_UNAVAILABLE, f"biller {biller.id} is unavailable")
        if refusal == "busy":
            raise RequestFailed(ErrorCode.BUSY, f"biller {biller.id} is busy")
        new = NewPay(
            ctx.terminal_id,
            f.ref,
            ctx.agent_id,
            biller.id,
            f.account,
            f.amount_paise,
            f.mobile,
            extra,
            ctx.channel,
            ctx.language,
        )
        try:
            pay, created = await self._store.claim(new, admission=True)
        except PayArchived as exc:  # the ref named a pay long ago: never a second one
            raise RequestFailed(ErrorCode.REFERENCE_REUSED, str(exc)) from exc
        if not created:
            return await self._pay_again(ctx, pay, biller, f)
        admitted = False
        try:
            refusal = await self._policy.refusal(pay) if self._policy is not None else None
            if refusal is not None:  # recorded: a retry of this ref gets the same answer
                return await self._refuse(pay, refusal)
            admitted = True
        finally:
            self._store.decided(pay.id, admitted)  # copies waiting on it go on
        return await self._drive(ctx, pay, biller, fresh=True)

    async def _refuse(self, pay: Pay, refusal: str) -> dict[str, Any]:
        try:
            return pay_result(await self._store.move(pay, PayState.VOIDED, error_code=refusal))
        except PayConflict:
            # Recovery cancelled it while it was being admitted (an admission that
            # outlasted ``recovery_idle_s``, say while Redis failed): that answer stands.
            return pay_result(await self._store.get(pay.id) or pay)

    async def _pay_again(
        self, ctx: TerminalContext, pay: Pay, biller: Biller, f: PayRequest
    ) -> dict[str, Any]:
        """A pay request whose (terminal, ref) names a pay already recorded: a retry,
        or a copy racing the original. Its answer is the first request's outcome."""
        if not pay.same_request(biller.id, f.account, f.amount_paise, f.params):
            raise RequestFailed(ErrorCode.REFERENCE_REUSED, f"ref {f.ref} names pay {pay.id}")
        if pay.leased_to_another(self._store.process_id):
            return pay_result(pay)  # another process is driving it: "pending" until it is done
        # The creator (in this process) decides admission once; the copy waits for it.
        if not await self._store.wait_decided(pay.id, self._answer_within_s):
            return pay_result(await self._store.get(pay.id) or pay)
        return await self._drive(ctx, pay, biller, fresh=False)

    async def _drive(
        self, ctx: TerminalContext, pay: Pay, biller: Biller, *, fresh: bool
    ) -> dict[str, Any]:
        try:
            pay = await self._flow.drive_detached(
                pay, biller, ctx.wallet_account_id, self._answer_within_s, fresh=fresh
            )
        except LedgerBusy as exc:
            # The pay stays where it is; the same ref resumes it.
            raise RequestFailed(ErrorCode.BUSY, str(exc)) from exc
        except LedgerUnavailable as exc:
            raise RequestFailed(ErrorCode.UNAVAILABLE, str(exc)) from exc
        return pay_result(pay)

    async def status(self, ctx: TerminalContext, f: StatusRequest) -> dict[str, Any]:
        pay = await self._store.by_ref(ctx.terminal_id, f.ref)
        if pay is None:
            raise RequestFailed(ErrorCode.UNKNOWN_REFERENCE, f"ref {f.ref}")
        if pay.state.final or pay.leased_to_another(self._store.process_id):
            return pay_result(pay)
        biller = self._billers.get(pay.biller_id)
        # A pay still being admitted by its creator here is driven only once admitted.
        if biller is None or not await self._store.wait_decided(pay.id, self._answer_within_s):
            return pay_result(await self._store.get(pay.id) or pay)
        return await self._drive(ctx, pay, biller, fresh=False)

    async def list_payments(self, ctx: TerminalContext, f: ListPayments) -> dict[str, Any]:
        first, last = _range(f.first, f.last)
        limit = f.limit
        # One more than asked tells whether another page exists.
        pays = await self._store.for_agent(ctx.agent_id, first, last, limit + 1, f.after)
        more = len(pays) > limit
        pays = pays[:limit]
        return {
            "type": "payments",
            "items": [_item(p) for p in pays],
            "next_after": pays[-1].id if more else None,
        }

    async def summary(self, ctx: TerminalContext, f: SummaryRequest) -> dict[str, Any]:
        first, last = _range(f.first, f.last)
        rows = await self._store.summary(ctx.agent_id, first, last)
        by_state = {
            r["state"]: {"count": r["count"], "amount_paise": r["amount_paise"]} for r in rows
        }
        posted = by_state.get("posted", {"count": 0, "amount_paise": 0})
        return {
            "type": "summary",
            "from": first.isoformat(),
            "to": last.isoformat(),
            "count": sum(v["count"] for v in by_state.values()),
            "paid_count": posted["count"],
            "paid_amount_paise": posted["amount_paise"],
            "by_state": by_state,
        }


def _range(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        raise RequestFailed(ErrorCode.INVALID_REQUEST, f"from..to must be 0..{MAX_RANGE_DAYS} days")
    return first, last


def _item(p: Pay) -> dict[str, Any]:
    return {
        "txn": p.id,
        "ref": p.terminal_ref,
        "biller": p.biller_id,
        "account": p.consumer_account,
        "amount_paise": p.amount_paise,
        "state": p.state.value,
        "time_ms": int(p.created_at.timestamp() * 1000),
    }


def pay_result(pay: Pay) -> dict[str, Any]:
    """success (posted, with a receipt), failed (voided, with the code), or pending."""
    body: dict[str, Any] = {"type": "pay_result", "ref": pay.terminal_ref, "txn": pay.id}
    if pay.state is PayState.POSTED:
        body["status"] = "success"
        body["receipt"] = {
            "txn": pay.id,
            "biller_txn": pay.biller_txn_id,
            "ref": pay.terminal_ref,
            "biller": pay.biller_id,
            "account": pay.consumer_account,
            "amount_paise": pay.amount_paise,
            "time_ms": int(pay.updated_at.timestamp() * 1000),
        }
    elif pay.state is PayState.VOIDED:
        body["status"] = "failed"
        body["code"] = terminal_code(pay.error_code)
        if pay.biller_code:
            body["biller_code"] = pay.biller_code
    else:
        body["status"] = "pending"
    return body
