"""Payment links and their orders in the database: each step of an order is one
transaction that locks the order's row (and its link's, where rule 3 reads it),
reads the stored state, checks the move against ``orders.ALLOWED`` and writes the
move with its ledger transfer, if any.

Ledger transfers (single-phase, keyed by the order, so a step replayed after a
crash is the ledger's replay, never a second movement):

- ``link:in:<order>``: gateway receivable -> gateway settlement account (collected);
- ``link:out:<order>``: gateway settlement account -> gateway receivable (refunding).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from switch.db import Connection
from switch.db.database import Database
from switch.ledger import AccountKind, Ledger
from switch.ledger import store as ledger_store
from switch.links.orders import LinkView, OrderState, after_collect, check, on_gateway_word
from switch.sms import Sms, render
from switch.sms.outbox import queue_sms

GATEWAY_AGENT_ID = "PG000001"
GATEWAY_RECEIVABLE_CODE = "gateway:receivable"
# The gateway settlement account only passes money through; its ceiling bounds what
# can sit in it at once (collected and not yet paid or refunded).
GATEWAY_MAX_BALANCE_PAISE = 100_000_000_00
GATEWAY_PER_TXN_PAISE = 1_00_000_00
GATEWAY_PER_DAY_PAISE = 50_000_000_00


class LinkRefused(Exception):
    """A link that cannot be paid now, with the reason a consumer is shown."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LedgerRefusedStep(Exception):
    """The ledger refused an order's transfer: nothing of the step was written."""


@dataclass(frozen=True)
class GatewayAccounts:
    agent_id: str
    wallet_account_id: int
    receivable_account_id: int


async def ensure_gateway(db: Database, ledger: Ledger) -> GatewayAccounts:
    """The gateway's agent row, settlement account and receivable (made once)."""
    wallet = await ledger.open_account(
        AccountKind.WALLET, f"wallet:{GATEWAY_AGENT_ID}", "Payment gateway settlement"
    )
    receivable = await ledger.open_account(
        AccountKind.RECEIVABLE, GATEWAY_RECEIVABLE_CODE, "Payment gateway receivable"
    )
    await db.execute(
        """WITH a AS (
               INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state, kind)
               VALUES ($1, 'Payment gateway (links)', '9000000000', NULL, $2, 'active', 'gateway')
               ON CONFLICT (id) DO NOTHING RETURNING id)
           INSERT INTO wallet_limits (agent_id, max_balance_paise, per_txn_paise, per_day_paise,
                                      updated_by)
           SELECT id, $3, $4, $5, 'system' FROM a""",
        GATEWAY_AGENT_ID,
        wallet.id,
        GATEWAY_MAX_BALANCE_PAISE,
        GATEWAY_PER_TXN_PAISE,
        GATEWAY_PER_DAY_PAISE,
    )
    return GatewayAccounts(GATEWAY_AGENT_ID, wallet.id, receivable.id)


@dataclass(frozen=True)
class NewLink:
    biller_id: str
    account: str
    params: Mapping[str, str]
    consumer_name: str
    mobile: str
    language: str
    amount_paise: int
    arrears_paise: int
    due_date: dt.date
    bill_number: str
    bill_ref: str | None


async def insert_link(
    conn: Connection, link: NewLink, ttl_s: float, actor: str, sms: Any
) -> asyncpg.Record:
    """The link and its SMS (``sms(link_id) -> Sms``), in one transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO pay_links (biller_id, consumer_account, consumer_params,
                   consumer_name, mobile, language, amount_paise, arrears_paise, due_date,
                   bill_number, bill_ref, expires_at, created_by)
               VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11,
                       now() + make_interval(secs => $12::float8), $13)
               RETURNING *""",
            link.biller_id,
            link.account,
            json.dumps(dict(link.params)),
            link.consumer_name,
            link.mobile,
            link.language,
            link.amount_paise,
            link.arrears_paise,
            link.due_date,
            link.bill_number,
            link.bill_ref,
            ttl_s,
            actor,
        )
        assert row is not None
        await queue_sms(conn, link.mobile, sms(row))
        return row


async def link_by_id(db: Database, link_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT l.*, l.expires_at < now() AS past_expiry FROM pay_links l WHERE id = $1""",
        link_id,
    )


async def orders_of(db: Database, link_id: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM link_orders WHERE link_id = $1 ORDER BY created_at", link_id
    )


async def order_by_id(db: Database, order_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM link_orders WHERE id = $1", order_id)


async def new_order(
    db: Database, link_id: int, amount_paise: int, vpa: str, bill_ref: str | None
) -> asyncpg.Record:
    """An order for the link, or the one already in flight (a second tap on "Pay")."""

    async def write(conn: Connection) -> asyncpg.Record:
        async with conn.transaction():
            link = await conn.fetchrow(
                """SELECT *, expires_at < now() AS past_expiry FROM pay_links
                    WHERE id = $1 FOR UPDATE""",
                link_id,
            )
            assert link is not None
            check_payable(link)
            busy = await conn.fetchrow(
                """SELECT * FROM link_orders WHERE link_id = $1
                      AND state IN ('created', 'pending', 'collected', 'paying')""",
                link_id,
            )
            if busy is not None:
                return busy
            n = await conn.fetchval("SELECT count(*) FROM link_orders WHERE link_id = $1", link_id)
            row = await conn.fetchrow(
                """INSERT INTO link_orders (id, link_id, amount_paise, payer_vpa)
                   VALUES ($1, $2, $3, $4) RETURNING *""",
                f"L{link_id}-{n + 1}",
                link_id,
                amount_paise,
                vpa,
            )
            await conn.execute(
                "UPDATE pay_links SET bill_ref = coalesce($2, bill_ref) WHERE id = $1",
                link_id,
                bill_ref,
            )
            assert row is not None
            return row

    return await db.run(write)


def check_payable(link: asyncpg.Record) -> None:
    if link["state"] == "paid":
        raise LinkRefused("link_paid", "This bill has been paid through this link already.")
    if link["state"] == "expired" or link["past_expiry"]:
        raise LinkRefused("link_expired", "This payment link has expired.")


async def _locked(conn: Connection, order_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM link_orders WHERE id = $1 FOR UPDATE", order_id)


async def _move(
    conn: Connection,
    order: asyncpg.Record,
    new: OrderState,
    check_in_s: float = 0.0,
    **fields: Any,
) -> asyncpg.Record:
    """The checked move, its fields, and when the order is next looked at."""
    check(OrderState(order["state"]), new)
    sets = "".join(f", {k} = ${i + 4}" for i, k in enumerate(fields))
    row = await conn.fetchrow(
        f"""UPDATE link_orders SET state = $2, updated_at = now(), attempts = 0,
                   next_check_at = now() + make_interval(secs => $3::float8){sets}
             WHERE id = $1 RETURNING *""",
        order["id"],
        new.value,
        check_in_s,
        *fields.values(),
    )
    assert row is not None
    return row


async def _transfer(conn: Connection, key: str, debit: int, credit: int, amount: int) -> None:
    [code] = await ledger_store.apply_in_transaction(conn, [(key, debit, credit, amount)])
    if code not in (0, 1):  # applied, or this step's replay
        raise LedgerRefusedStep(f"{key}: the ledger refused it (code {code})")


async def record_word(
    db: Database, acct: GatewayAccounts, order_id: str, status: str, amount_paise: int,
    gateway_ref: str | None, late_check_s: float = 300.0,
) -> tuple[asyncpg.Record | None, str]:  # fmt: skip
    """Rules 1-2: the gateway's word about an order, and what it did (for the record
    of callbacks): ``collected``, ``failed``, ``pending``, ``no_change``,
    ``unknown_order`` or ``amount_mismatch``. A failed order is asked about once
    more, ``late_check_s`` later (rule 2: money that came after all)."""

    async def write(conn: Connection) -> tuple[asyncpg.Record | None, str]:
        async with conn.transaction():
            order = await _locked(conn, order_id)
            if order is None:
                return None, "unknown_order"
            if amount_paise != order["amount_paise"]:
                return order, "amount_mismatch"
            new = on_gateway_word(OrderState(order["state"]), status)
            if new is None:
                return order, "no_change"
            if new is OrderState.COLLECTED:
                key = f"link:in:{order_id}"
                await _transfer(conn, key, acct.receivable_account_id, acct.wallet_account_id,
                                amount_paise)  # fmt: skip
            failed = new is OrderState.FAILED
            failure = f"gateway: {status}" if failed else None
            check_in_s = late_check_s if failed else 0.0
            moved = await _move(
                conn, order, new, check_in_s, gateway_ref=gateway_ref, failure=failure
            )
            return moved, new.value

    return await db.run(write)


Step = Callable[[Connection, asyncpg.Record], Awaitable[asyncpg.Record]]


async def _step_from(db: Database, order_id: str, state: OrderState, step: Step) -> asyncpg.Record:
    """``step`` in one transaction under the order's lock, if the stored order is
    still in ``state``; else the order as it is (another driver took the step)."""

    async def write(conn: Connection) -> asyncpg.Record:
        async with conn.transaction():
            order = await _locked(conn, order_id)
            assert order is not None
            return order if order["state"] != state else await step(conn, order)

    return await db.run(write)


async def take_link_or_refund(db: Database, acct: GatewayAccounts, order_id: str) -> asyncpg.Record:
    """Rule 3, for a collected order: it takes its link (``paying``) or refunds."""

    async def step(conn: Connection, order: asyncpg.Record) -> asyncpg.Record:
        link = await conn.fetchrow(
            """SELECT state, paid_order, expires_at < now() AS past_expiry FROM pay_links
                WHERE id = $1 FOR UPDATE""",
            order["link_id"],
        )
        assert link is not None
        view = LinkView(link["state"], link["past_expiry"], link["paid_order"])
        if after_collect(view, order_id) is OrderState.PAYING:
            await conn.execute(
                "UPDATE pay_links SET paid_order = $2, updated_at = now() WHERE id = $1",
                order["link_id"],
                order_id,
            )
            return await _move(conn, order, OrderState.PAYING)
        why = "the link was paid by another order" if link["paid_order"] else "link expired"
        return await _start_refund(conn, acct, order, why)

    return await _step_from(db, order_id, OrderState.COLLECTED, step)


async def _start_refund(
    conn: Connection, acct: GatewayAccounts, order: asyncpg.Record, why: str, **fields: Any
) -> asyncpg.Record:
    key = f"link:out:{order['id']}"
    await _transfer(conn, key, acct.wallet_account_id, acct.receivable_account_id,
                    order["amount_paise"])  # fmt: skip
    return await _move(conn, order, OrderState.REFUNDING, failure=why[:200], **fields)


async def finish_pay(
    db: Database, acct: GatewayAccounts, order_id: str, posted: bool, pay_id: int | None,
    why: str = "",
) -> asyncpg.Record:  # fmt: skip
    """Rule 5: a paying order's pay is final: the link is paid, or the order refunds
    and gives the link back."""

    async def step(conn: Connection, order: asyncpg.Record) -> asyncpg.Record:
        if posted:
            await conn.execute(
                """UPDATE pay_links SET state = 'paid', updated_at = now()
                    WHERE id = $1 AND paid_order = $2""",
                order["link_id"],
                order_id,
            )
            return await _move(conn, order, OrderState.PAID, pay_id=pay_id)
        await conn.execute(
            """UPDATE pay_links SET paid_order = NULL, updated_at = now()
                WHERE id = $1 AND paid_order = $2""",
            order["link_id"],
            order_id,
        )
        return await _start_refund(conn, acct, order, why or "the pay failed", pay_id=pay_id)

    return await _step_from(db, order_id, OrderState.PAYING, step)


async def refunded(db: Database, order_id: str, sms: Any) -> asyncpg.Record:
    """The gateway gave the money back: final, and the payer is told."""

    async def step(conn: Connection, order: asyncpg.Record) -> asyncpg.Record:
        link = await conn.fetchrow("SELECT * FROM pay_links WHERE id = $1", order["link_id"])
        assert link is not None
        await queue_sms(conn, link["mobile"], sms(link, order))
        return await _move(conn, order, OrderState.REFUNDED)

    return await _step_from(db, order_id, OrderState.REFUNDING, step)


async def record_callback(
    db: Database, order_id: str, status: str, amount_paise: int | None, outcome: str
) -> None:
    await db.execute(
        """INSERT INTO gateway_callbacks (order_id, status, amount_paise, outcome)
           VALUES ($1, $2, $3, $4)""",
        order_id[:40],
        status[:20],
        amount_paise,
        outcome,
    )


async def due_orders(
    db: Database, limit: int, backoff_base_s: float, backoff_max_s: float, idle_s: float
) -> list[asyncpg.Record]:
    """Unfinished orders due a look, each pushed back by its backoff as it is taken
    (a driver that dies only delays them). A ``failed`` order is done with unless
    the gateway speaks of it again."""
    return await db.fetch(
        """UPDATE link_orders o SET attempts = attempts + 1,
                  next_check_at = now() + make_interval(
                      secs => least($2::float8 * power(2, attempts), $3::float8))
            WHERE id IN (SELECT id FROM link_orders
                          WHERE (state IN ('created', 'pending', 'collected', 'paying',
                                           'refunding')
                                 OR (state = 'failed' AND attempts = 0))
                            AND next_check_at <= now()
                            AND updated_at < now() - make_interval(secs => $4::float8)
                          ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING o.*""",
        limit,
        backoff_base_s,
        backoff_max_s,
        idle_s,
    )


async def expire_links(db: Database, limit: int) -> int:
    """Open links past their time that no order holds become ``expired``."""
    status = await db.execute(
        """UPDATE pay_links SET state = 'expired', updated_at = now()
            WHERE id IN (SELECT id FROM pay_links
                          WHERE state = 'open' AND expires_at < now() AND paid_order IS NULL
                          LIMIT $1 FOR UPDATE SKIP LOCKED)""",
        limit,
    )
    return int(status.split()[-1])


def refund_sms(link: asyncpg.Record, order: asyncpg.Record) -> Sms:
    return render(
        "link_refund",
        link["language"],
        amount=rupees_text(order["amount_paise"]),
        biller=link["biller_id"],
        account=link["consumer_account"],
        order=order["id"],
    )


def rupees_text(paise: int) -> str:
    """Rupees as an SMS writes them (ASCII: some handsets lack the ₹ sign)."""
    return f"Rs {paise // 100}.{paise % 100:02d}"
