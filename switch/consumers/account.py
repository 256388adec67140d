"""What a signed-in consumer sees of their own account, and the complaints they may
raise: the account's pays through the switch (every channel), their receipts, the
payments the system before it recorded (imported, read-only), and the complaints
about those pays with their state and turnaround. Nothing here names an
agent, a terminal or a partner beyond the pay's own references."""

from __future__ import annotations

import asyncpg

from switch.admin.complaints import log_complaint
from switch.config import AdminConfig
from switch.db import Connection
from switch.db.database import Database

MAX_PAYS_SHOWN = 50
MAX_OPEN_COMPLAINTS = 5  # one consumer's complaints not yet resolved
CONSUMER_CATEGORIES = (
    "not_credited",
    "double_debit",
    "wrong_amount",
    "receipt_missing",
    "refund_pending",
    "other",
)


class ComplaintRefused(Exception):
    pass


async def known_mobiles(db: Database, biller_id: str, account: str) -> set[str]:
    """Mobiles the account's payments or payment links were sent to (rule 1 of
    ``access.py``; the biller's own record is added from a live fetch)."""
    rows = await db.fetch(
        """SELECT mobile FROM pays
            WHERE consumer_account = $2 AND biller_id = $1 AND mobile IS NOT NULL
           UNION
           SELECT mobile FROM pay_links WHERE biller_id = $1 AND consumer_account = $2
           UNION
           SELECT mobile FROM legacy_pays
            WHERE consumer_account = $2 AND biller_id = $1 AND mobile IS NOT NULL
           UNION
           SELECT mobile FROM consumer_accounts WHERE biller_id = $1 AND consumer_account = $2""",
        biller_id,
        account,
    )
    return {r["mobile"] for r in rows}


async def pays_of(db: Database, biller_id: str, account: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT id, amount_paise, state, channel, created_at, updated_at, biller_txn_id,
                  error_code
             FROM pays WHERE consumer_account = $2 AND biller_id = $1
            ORDER BY created_at DESC LIMIT $3""",
        biller_id,
        account,
        MAX_PAYS_SHOWN,
    )


async def legacy_pays_of(db: Database, biller_id: str, account: str) -> list[asyncpg.Record]:
    """Payments the system before this one recorded (imported; read-only)."""
    return await db.fetch(
        """SELECT legacy_ref, amount_paise, status, paid_at, biller_txn_id FROM legacy_pays
            WHERE consumer_account = $2 AND biller_id = $1 ORDER BY paid_at DESC LIMIT $3""",
        biller_id,
        account,
        MAX_PAYS_SHOWN,
    )


async def complaints_of(db: Database, biller_id: str, account: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT c.id, c.pay_id, c.category, c.state, c.created_at, c.due_at, c.resolution,
                  c.due_at < now() AND c.state NOT IN ('resolved', 'closed') AS overdue
             FROM complaints c JOIN pays p ON p.id = c.pay_id
            WHERE p.consumer_account = $2 AND p.biller_id = $1
            ORDER BY c.id DESC LIMIT $3""",
        biller_id,
        account,
        MAX_PAYS_SHOWN,
    )


async def raise_complaint(
    db: Database,
    cfg: AdminConfig,
    biller_id: str,
    account: str,
    mobile: str,
    pay_id: int,
    category: str,
    description: str,
) -> asyncpg.Record:
    """A complaint about one of the account's own pays (ComplaintRefused: not theirs,
    an unknown category, or too many open)."""
    if category not in CONSUMER_CATEGORIES:
        raise ComplaintRefused("category")
    text = description.strip()[:1000] or category.replace("_", " ")
    raised_by = f"consumer:{mobile}"

    async def write(conn: Connection) -> asyncpg.Record:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", raised_by)
            pay = await conn.fetchrow(
                """SELECT id, agent_id FROM pays
                    WHERE id = $1 AND biller_id = $2 AND consumer_account = $3""",
                pay_id,
                biller_id,
                account,
            )
            if pay is None:
                raise ComplaintRefused("pay")
            open_now = await conn.fetchval(
                """SELECT count(*) FROM complaints
                    WHERE raised_by = $1 AND state NOT IN ('resolved', 'closed')""",
                raised_by,
            )
            if open_now >= MAX_OPEN_COMPLAINTS:
                raise ComplaintRefused("too_many")
            return await log_complaint(
                conn,
                cfg,
                kind="transaction",
                category=category,
                pay_id=pay_id,
                agent_id=pay["agent_id"],
                description=text,
                raised_by=raised_by,
            )

    return await db.run(write)


async def set_language(db: Database, mobile: str, language: str) -> None:
    """The consumer's own language: their SMS from now on, whoever takes the pay."""
    await db.execute(
        """INSERT INTO consumer_languages (mobile, language) VALUES ($1, $2)
           ON CONFLICT (mobile) DO UPDATE SET language = $2, updated_at = now()""",
        mobile,
        language,
    )
