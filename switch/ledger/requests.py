"""One queued ledger request, and the rules that check it before it is queued.

Validation happens here, in the caller's task, so a bad request is refused at once
and never reaches a batch (nothing written). The database re-checks what it can
(amount > 0, overdraft) as the last line of defence.
"""

from __future__ import annotations

import enum

import trio

from switch.ledger.errors import InvalidAmount, InvalidKey, UnknownAccount

MAX_KEY_LENGTH = 200


class Op(enum.IntEnum):
    """Matches ``op`` in ledger_apply (migration 0002)."""

    RESERVE = 1
    POST = 2
    VOID = 3
    TRANSFER = 4


class Request:
    """A request waiting for its batch. Identical requests share one (``waiters``)."""

    __slots__ = ("amount", "credit", "debit", "key", "op", "timeout_ms", "waiters")

    def __init__(
        self, op: Op, key: str, debit: int, credit: int, amount: int, timeout_ms: int
    ) -> None:
        self.op = op
        self.key = key
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.timeout_ms = timeout_ms
        # One cell per waiting task; a cell is emptied when its task is cancelled.
        self.waiters: list[list[trio.lowlevel.Task | None]] = []

    def same_content(self, other: Request) -> bool:
        return (self.op, self.debit, self.credit, self.amount) == (
            other.op,
            other.debit,
            other.credit,
            other.amount,
        )


def check_amount(amount_paise: object, max_amount_paise: int) -> int:
    # bool is an int in Python; a True amount is a bug, not one paisa.
    if not isinstance(amount_paise, int) or isinstance(amount_paise, bool):
        raise InvalidAmount(f"amount must be an integer number of paise, got {amount_paise!r}")
    if amount_paise <= 0:
        raise InvalidAmount(f"amount must be positive, got {amount_paise} paise")
    if amount_paise > max_amount_paise:
        raise InvalidAmount(
            f"amount {amount_paise} paise is over the limit of {max_amount_paise} paise"
        )
    return amount_paise


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidKey("idempotency key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"idempotency key is longer than {MAX_KEY_LENGTH} characters")
    if not key.isprintable():
        raise InvalidKey("idempotency key must be printable")
    return key


def check_account_id(account_id: object) -> int:
    if not isinstance(account_id, int) or isinstance(account_id, bool) or account_id <= 0:
        raise UnknownAccount(f"account id must be a positive integer, got {account_id!r}")
    return account_id
