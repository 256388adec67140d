"""A complaint's refund: only of a posted pay, only as a declared write-off, and never
past what is left to refund on the pay (switch/pays/refunds.py keeps that bound in the
database for every kind of refund).

A posted pay's money is at the biller. A refund decided on a complaint is paid by the
switch out of its own funds (funding -> the agent's wallet, keyed by the complaint so
it happens once), which is a write-off and must be declared as one; money the biller
gives back comes through reconciliation's ``refund_agent`` instead. A voided pay's
money is already back in the wallet: nothing to refund.
"""

from __future__ import annotations

import asyncpg

from switch.admin.errors import ApiError
from switch.db import Connection
from switch.ledger import store as ledger_store
from switch.ledger.types import FUNDING_CODE
from switch.pays.refunds import RefundTooLarge, count_refund


async def refund_complaint(
    conn: Connection, complaint: asyncpg.Record, amount_paise: int, write_off: bool
) -> None:
    if complaint["kind"] != "transaction":
        raise ApiError(
            "invalid_request",
            "only a transaction complaint is refunded",
            {"refund_paise": "not for a service complaint"},
        )
    pay = await conn.fetchrow(
        """SELECT p.state, p.amount_paise, a.wallet_account_id FROM pays p
             JOIN agents a ON a.id = p.agent_id WHERE p.id = $1""",
        complaint["pay_id"],
    )
    assert pay is not None
    _refundable(pay["state"], write_off)
    funding = await conn.fetchval("SELECT id FROM accounts WHERE code = $1", FUNDING_CODE)
    key = f"complaint:{complaint['id']}:refund"
    try:
        await count_refund(conn, complaint["pay_id"], amount_paise)
    except RefundTooLarge as exc:
        raise ApiError(
            "invalid_request",
            "the pay's refunds would exceed its amount",
            {"refund_paise": f"at most {exc.left_paise} left to refund on this pay"},
        ) from None
    [code] = await ledger_store.apply_in_transaction(
        conn, [(key, funding, pay["wallet_account_id"], amount_paise)]
    )
    if code not in (0, 1):
        raise ApiError("invalid_state", f"the ledger refused the refund (code {code})")


def _refundable(state: str, write_off: bool) -> None:
    """Only a posted pay's money can be refunded, and only as a declared write-off."""
    if state == "voided":
        raise ApiError(
            "invalid_state",
            "the pay was voided: its money is already back in the wallet",
            {"refund_paise": "nothing to refund on a voided pay"},
        )
    if state != "posted":
        raise ApiError(
            "invalid_state",
            f"the pay is {state}: refund it once it is final",
            {"refund_paise": "the pay is not final yet"},
        )
    if not write_off:
        raise ApiError(
            "invalid_request",
            "a posted pay's money is at the biller",
            {
                "write_off": "set it to pay the refund from the switch's funds; money the "
                "biller gives back goes through reconciliation (refund_agent)"
            },
        )
