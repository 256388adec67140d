"""Refunds of a pay never add up to more than the pay: the bound, kept in the database.

A refund reaches an agent's wallet two ways: a complaint resolved with a refund, or a
reconciliation case resolved with ``refund_agent``. Each calls ``count_refund`` in the
same transaction as its ledger transfer; the ``pay_refunds`` row of the pay is
updated under its row lock and its CHECK refuses a total above the pay's amount, so
neither many complaints on one pay nor concurrent resolutions can refund it twice.
"""

from __future__ import annotations

import asyncpg

from switch.db import Connection


class RefundTooLarge(Exception):
    def __init__(self, pay_id: int, left_paise: int) -> None:
        super().__init__(f"pay {pay_id} has {left_paise} paise left to refund")
        self.left_paise = left_paise


async def count_refund(conn: Connection, pay_id: int, amount_paise: int) -> None:
    """Add ``amount_paise`` to the pay's refunds; ``RefundTooLarge`` past its amount
    (the caller's transaction must then roll back its transfer)."""
    try:
        async with conn.transaction():  # a savepoint: the error leaves the caller usable
            await conn.execute(
                """INSERT INTO pay_refunds (pay_id, amount_paise, refunded_paise)
                   SELECT id, amount_paise, $2 FROM pays WHERE id = $1
                   ON CONFLICT (pay_id) DO UPDATE
                      SET refunded_paise = pay_refunds.refunded_paise + EXCLUDED.refunded_paise,
                          updated_at = now()""",
                pay_id,
                amount_paise,
            )
    except asyncpg.CheckViolationError:
        left = await conn.fetchval(
            """SELECT p.amount_paise - coalesce(r.refunded_paise, 0) FROM pays p
                 LEFT JOIN pay_refunds r ON r.pay_id = p.id WHERE p.id = $1""",
            pay_id,
        )
        raise RefundTooLarge(pay_id, int(left or 0)) from None
