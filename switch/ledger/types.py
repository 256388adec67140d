"""Values the ledger hands out: accounts, transfers and their states."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AccountKind(enum.StrEnum):
    WALLET = "wallet"
    IN_FLIGHT = "in_flight"
    BILLER = "biller"
    FEE = "fee"
    COMMISSION = "commission"
    FUNDING = "funding"
    RECEIVABLE = "receivable"
    MIGRATION = "migration"  # legacy opening balances come through it (switch/imports/)


class TransferState(enum.IntEnum):
    """Stored as a smallint in ``transfers.state``."""

    PENDING = 1
    POSTED = 2
    VOIDED = 3
    REJECTED = 4


IN_FLIGHT_CODE = "system:in_flight"
FUNDING_CODE = "system:funding"
MIGRATION_CODE = "system:migration"
FEE_INCOME_CODE = "system:fee_income"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    kind: AccountKind
    code: str
    name: str
    balance_paise: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """The outcome of a ledger request.

    ``replayed`` is true when the key had been seen before and this is the first
    result returned again (no money moved this time).
    """

    id: int
    key: str
    state: TransferState
    amount_paise: int
    replayed: bool


def pay_key(terminal_id: str, terminal_ref: str) -> str:
    """The idempotency key of a pay: the terminal and the terminal's own reference."""
    return f"pay:{terminal_id}:{terminal_ref}"


def top_up_key(bank_ref: str) -> str:
    return f"topup:{bank_ref}"
