"""Topping up an agent's wallet: funding (the bank) -> wallet, once per bank reference,
never past the wallet's ceiling (``max_balance_paise``). The admin API and the CLI
both top up here.

All of it is one database transaction, in this order:

1. The bank reference is looked up first: a retry of a top-up that happened answers
   the first one (``replayed``) whatever the balance is now -- a retry near the
   ceiling was once refused as over it, as if the money had not arrived;
   the same reference with another amount or wallet is refused (``DuplicateReference``).
2. The ledger's lock is taken (the one every batch of the ledger takes), so the
   balance read next cannot move before the transfer: two concurrent top-ups can
   never pass the ceiling together.
3. The ceiling is checked, the transfer applied, and the audit entry written, in the
   same transaction: a top-up is never without its audit row, nor an audit row
   without its top-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switch.db import Connection
from switch.db.audit import audit
from switch.ledger import store as ledger_store
from switch.ledger.types import FUNDING_CODE, top_up_key


class TopUpRefused(Exception):
    pass


class DuplicateReference(TopUpRefused):
    """The bank reference was used for another amount or another wallet."""


class OverCeiling(TopUpRefused):
    def __init__(self, ceiling_paise: int, room_paise: int) -> None:
        super().__init__(f"the wallet may hold at most {ceiling_paise} paise")
        self.ceiling_paise = ceiling_paise
        self.room_paise = room_paise


@dataclass(frozen=True)
class TopUp:
    transfer_id: int
    amount_paise: int
    bank_ref: str
    replayed: bool
    balance_paise: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def top_up(
    conn: Connection,
    *,
    agent_id: str,
    wallet_account_id: int,
    amount_paise: int,
    bank_ref: str,
    ceiling_paise: int,
    actor: str,
) -> TopUp:
    """Top up (or answer the earlier top-up of this bank reference); see above."""
    key = top_up_key(bank_ref)
    async with conn.transaction():
        earlier = await _earlier(conn, bank_ref, wallet_account_id, amount_paise)
        if earlier is not None:
            return earlier
        await ledger_store.lock(conn)
        balance = await _balance(conn, wallet_account_id)
        if balance + amount_paise > ceiling_paise:
            raise OverCeiling(ceiling_paise, max(0, ceiling_paise - balance))
        funding = await conn.fetchval("SELECT id FROM accounts WHERE code = $1", FUNDING_CODE)
        [code] = await ledger_store.apply_in_transaction(
            conn, [(key, funding, wallet_account_id, amount_paise)]
        )
        if code != 0:  # nothing else can have taken the key: we hold the ledger's lock
            raise TopUpRefused(f"the ledger refused the top-up (code {code})")
        done = await _earlier(conn, bank_ref, wallet_account_id, amount_paise)
        assert done is not None
        result = TopUp(done.transfer_id, amount_paise, bank_ref, False, balance + amount_paise)
        await audit(
            conn,
            actor,
            "wallet.topup",
            "agent",
            agent_id,
            {"balance_paise": balance},
            result.as_dict() | {"agent_id": agent_id},
        )
        return result


async def _earlier(
    conn: Connection, bank_ref: str, wallet_account_id: int, amount_paise: int
) -> TopUp | None:
    row = await conn.fetchrow(
        """SELECT t.id, t.credit_account_id, t.amount_paise
             FROM transfer_keys k JOIN transfers t ON t.id = k.transfer_id
            WHERE k.idem_key = $1""",
        top_up_key(bank_ref),
    )
    if row is None:
        return None
    if (row["credit_account_id"], row["amount_paise"]) != (wallet_account_id, amount_paise):
        raise DuplicateReference("this bank reference was used with another amount or wallet")
    balance = await _balance(conn, wallet_account_id)
    return TopUp(row["id"], amount_paise, bank_ref, True, balance)


async def _balance(conn: Connection, account_id: int) -> int:
    return int(await conn.fetchval("SELECT balance_paise FROM accounts WHERE id = $1", account_id))
