"""Payment links, driven: a link made from a live fetch and sent by SMS; an order
collected through the gateway; the bill paid from the gateway settlement account by
the same pay flow as a terminal's (channel ``link``); money a bill could not take
refunded. The rules are in ``orders.py``; each step is one transaction of
``store.py``; this module calls the outside world between them.

Orders move on when the gateway calls back, when the consumer's page starts one,
and from ``run``: a supervised loop that asks about unfinished orders (with a
backoff per order), expires links past their time, and hands each order to one of
a few drivers through a bounded queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import trio

from switch.config import GatewayConfig
from switch.db.database import Database
from switch.ledger import Ledger
from switch.links import store
from switch.links.gateway import CollectRefused, Gateway, GatewayUnclear, GatewayWord
from switch.links.orders import OrderState
from switch.pays.service import RequestFailed, TerminalContext, TerminalService
from switch.protocols.terminal.errors import ErrorCode
from switch.protocols.terminal.requests import FetchBill, PayRequest
from switch.receipts.links import SignedLinks
from switch.sms import Sms, render

IST = ZoneInfo("Asia/Kolkata")

log = logging.getLogger("switch.links")

DRIVERS = 4
QUEUE = 1000
MAX_STEPS = 8  # an order's whole life is at most six steps
# A pay the switch could not even start (the biller unreachable, the switch busy) is
# tried again for this long before the money goes back.
PAY_RETRY_S = 600.0
RETRY_LATER = (ErrorCode.BUSY, ErrorCode.UNAVAILABLE, ErrorCode.BILLER_UNAVAILABLE,
               ErrorCode.INTERNAL_ERROR)  # fmt: skip


@dataclass
class LinkStats:
    links_sent: int = 0
    orders: int = 0
    callbacks: int = 0
    paid: int = 0
    refunded: int = 0
    dropped_kicks: int = 0  # the queue was full: the sweeper finds them instead


class LinkService:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        service: TerminalService,
        cfg: GatewayConfig,
        links: SignedLinks,
        callback_url: str,
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._service = service
        self._cfg = cfg
        self.links = links
        self._callback_url = callback_url
        self._gateway = Gateway(cfg.endpoint, cfg.timeout_s)
        self._acct: store.GatewayAccounts | None = None
        self._kicks_in, self._kicks_out = trio.open_memory_channel[str](QUEUE)
        self.stats = LinkStats()
        # Told what each gateway callback did (the metrics count them by outcome).
        self.on_callback: Callable[[str], None] | None = None

    def statistics(self) -> LinkStats:
        return self.stats

    async def start(self) -> None:
        self._acct = await store.ensure_gateway(self._db, self._ledger)

    @property
    def accounts(self) -> store.GatewayAccounts:
        assert self._acct is not None, "LinkService.start() first"
        return self._acct

    def _ctx(self, language: str | None = None) -> TerminalContext:
        a = self.accounts
        return TerminalContext(a.agent_id, a.agent_id, a.wallet_account_id, "link", language)

    # -- a link ---------------------------------------------------------------------

    async def _live_bill(
        self, biller: str, account: str, params: Mapping[str, str]
    ) -> tuple[dict[str, Any], Mapping[str, Any]]:
        f = FetchBill(0, biller, account, params)
        return await self._service.fetch_bill_with_details(self._ctx(), f)

    async def issue(
        self,
        biller: str,
        account: str,
        params: Mapping[str, str],
        mobile: str | None,
        language: str | None,
        actor: str,
    ) -> asyncpg.Record:
        """A link for the consumer's current bill, and its SMS (RequestFailed: the
        biller does not know the consumer, or cannot be reached; LinkRefused:
        nothing is due, or no mobile to send it to)."""
        bill, details = await self._live_bill(biller, account, params)
        if bill["amount_paise"] <= 0:
            raise store.LinkRefused("nothing_due", f"{biller} {account}: nothing is due")
        to = mobile or bill.get("mobile")
        if not to:
            raise store.LinkRefused("no_mobile", f"{biller} {account}: no mobile to send it to")
        new = store.NewLink(
            biller,
            account,
            dict(params),
            bill["name"],
            to,
            language or "en",
            bill["amount_paise"],
            _paise(details.get("arrears_paise")),
            dt.date.fromisoformat(bill["due_date"]),
            bill["bill_number"],
            bill.get("bill_ref"),
        )
        row = await self._db.run(
            lambda conn: store.insert_link(conn, new, self._cfg.link_ttl_s, actor, self._link_sms)
        )
        self.stats.links_sent += 1
        return row

    def _link_sms(self, link: asyncpg.Record) -> Sms:
        return render(
            "pay_link",
            link["language"],
            biller=link["biller_id"],
            account=link["consumer_account"],
            amount=store.rupees_text(link["amount_paise"]),
            due=link["due_date"].strftime("%d-%m-%Y"),
            link=self.links.url(link["id"]),
            expires=link["expires_at"].astimezone(IST).strftime("%d-%m-%Y"),
        )

    async def begin(self, link_id: int, vpa: str) -> asyncpg.Record:
        """The consumer tapped "Pay": the bill is fetched again (a bill paid or changed
        since the SMS is not paid twice, nor at the old amount), then the gateway
        asks the payer's UPI app for the amount."""
        link = await store.link_by_id(self._db, link_id)
        assert link is not None
        store.check_payable(link)
        bill, _ = await self._live_bill(
            link["biller_id"], link["consumer_account"], json.loads(link["consumer_params"])
        )
        if bill["amount_paise"] != link["amount_paise"]:
            now_due = store.rupees_text(max(0, bill["amount_paise"])).replace("Rs ", "₹")
            raise store.LinkRefused(
                "bill_changed",
                f"This bill has changed since the link was sent: {now_due} is due now. "
                "Ask the biller for a new link, or pay at a shop.",
            )
        order = await store.new_order(
            self._db, link_id, link["amount_paise"], vpa, bill.get("bill_ref")
        )
        self.stats.orders += 1
        return await self.drive(order["id"])

    # -- the gateway's word ------------------------------------------------------------

    async def on_word(self, word: GatewayWord, source: str) -> str:
        """A callback's or status answer's word, recorded (rules 1-2); the order is
        then driven on in the background. Returns what it did."""
        order, outcome = await store.record_word(
            self._db, self.accounts, word.order_id, word.status, word.amount_paise,
            word.gateway_ref, self._cfg.collect_expiry_s,
        )  # fmt: skip
        if source == "callback":
            self.stats.callbacks += 1
            await store.record_callback(
                self._db, word.order_id, word.status, word.amount_paise, outcome
            )
            if self.on_callback is not None:
                self.on_callback(outcome)
        if outcome == "amount_mismatch":
            log.error("gateway said %s for order %s with %d paise: not its amount",
                      word.status, word.order_id, word.amount_paise)  # fmt: skip
        if order is not None and outcome not in ("unknown_order", "amount_mismatch"):
            self.kick(word.order_id)
        return outcome

    def kick(self, order_id: str) -> None:
        try:
            self._kicks_in.send_nowait(order_id)
        except trio.WouldBlock:
            self.stats.dropped_kicks += 1

    # -- driving an order ----------------------------------------------------------------

    async def drive(self, order_id: str, asked: bool = False) -> asyncpg.Record:
        """Step the order on until it waits for someone else (the payer, the gateway,
        the biller) or is final. ``asked``: a due check, so a waiting order's status
        is asked of the gateway."""
        order = await store.order_by_id(self._db, order_id)
        assert order is not None
        for _ in range(MAX_STEPS):
            state = OrderState(order["state"])
            if state.final:
                return order
            moved = await self._step(order, state, asked)
            if moved is None:
                return order
            order = moved
        return order

    async def _step(
        self, order: asyncpg.Record, state: OrderState, asked: bool
    ) -> asyncpg.Record | None:
        try:
            if state is OrderState.CREATED:
                return await self._collect(order)
            if state in (OrderState.PENDING, OrderState.FAILED):
                return await self._ask(order) if asked else None
            if state is OrderState.COLLECTED:
                return await store.take_link_or_refund(self._db, self.accounts, order["id"])
            if state is OrderState.PAYING:
                return await self._pay(order)
            if state is OrderState.REFUNDING:
                return await self._refund(order)
        except GatewayUnclear as exc:
            log.warning("order %s (%s): gateway unclear, asked again later: %s",
                        order["id"], state, exc)  # fmt: skip
        return None

    async def _collect(self, order: asyncpg.Record) -> asyncpg.Record | None:
        try:
            await self._gateway.collect(
                order["id"], order["amount_paise"], order["payer_vpa"], self._callback_url,
                self._cfg.collect_expiry_s,
            )  # fmt: skip
            word = "pending"
        except CollectRefused:
            word = "failed"
        moved, _ = await store.record_word(
            self._db, self.accounts, order["id"], word, order["amount_paise"], None,
            self._cfg.collect_expiry_s,
        )  # fmt: skip
        return moved

    async def _ask(self, order: asyncpg.Record) -> asyncpg.Record | None:
        word = await self._gateway.status(order["id"])
        moved, outcome = await store.record_word(
            self._db, self.accounts, order["id"], word.status, word.amount_paise,
            word.gateway_ref, self._cfg.collect_expiry_s,
        )  # fmt: skip
        return moved if outcome in ("collected", "failed") else None

    async def _pay(self, order: asyncpg.Record) -> asyncpg.Record | None:
        link = await store.link_by_id(self._db, order["link_id"])
        assert link is not None
        request = PayRequest(
            0,
            order["id"],
            link["biller_id"],
            link["consumer_account"],
            order["amount_paise"],
            link["mobile"],
            json.loads(link["consumer_params"]),
            link["bill_ref"],
        )
        try:
            result = await self._service.pay(self._ctx(link["language"]), request)
        except RequestFailed as exc:
            waited_s = time.time() - order["updated_at"].timestamp()
            if exc.code in RETRY_LATER and waited_s < PAY_RETRY_S:
                return None
            return await store.finish_pay(
                self._db, self.accounts, order["id"], False, None, exc.code.value
            )
        if result["status"] == "pending":
            return None
        posted = result["status"] == "success"
        why = "" if posted else str(result.get("code", "failed"))
        moved = await store.finish_pay(
            self._db, self.accounts, order["id"], posted, result["txn"], why
        )
        if posted:
            self.stats.paid += 1
        return moved

    async def _refund(self, order: asyncpg.Record) -> asyncpg.Record | None:
        await self._gateway.refund(order["id"], order["amount_paise"])
        self.stats.refunded += 1
        return await store.refunded(self._db, order["id"], store.refund_sms)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Drivers for kicked orders, and the sweep of due ones and of old links."""
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(DRIVERS):
                    nursery.start_soon(self._driver)
                while True:
                    await self._sweep()
                    await trio.sleep(self._cfg.check_interval_s)
        finally:
            with trio.CancelScope(shield=True):
                await self._gateway.aclose()

    async def _driver(self) -> None:
        async for order_id in self._kicks_out:
            try:
                await self.drive(order_id, asked=True)
            except Exception:  # one order's fault never stops the others
                log.exception("driving order %s", order_id)

    async def _sweep(self) -> None:
        await store.expire_links(self._db, self._cfg.max_orders_per_check)
        due = await store.due_orders(
            self._db,
            self._cfg.max_orders_per_check,
            self._cfg.backoff_base_s,
            self._cfg.backoff_max_s,
            self._cfg.check_interval_s,
        )
        for order in due:
            self.kick(order["id"])


def _paise(value: Any) -> int:
    """A biller's figure of paise, or 0 where it gave none (or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
