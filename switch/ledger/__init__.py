"""The double-entry ledger: the only code that moves money. See docs/ledger.md."""

from switch.ledger.api import Ledger
from switch.ledger.errors import (
    AlreadyResolved,
    InsufficientFunds,
    InvalidAmount,
    InvalidKey,
    LedgerBusy,
    LedgerClosed,
    LedgerError,
    LedgerUnavailable,
    ModifiedRequest,
    UnknownAccount,
    UnknownTransfer,
)
from switch.ledger.types import (
    Account,
    AccountKind,
    Transfer,
    TransferState,
    pay_key,
    top_up_key,
)

__all__ = [
    "Account",
    "AccountKind",
    "AlreadyResolved",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidKey",
    "Ledger",
    "LedgerBusy",
    "LedgerClosed",
    "LedgerError",
    "LedgerUnavailable",
    "ModifiedRequest",
    "Transfer",
    "TransferState",
    "UnknownAccount",
    "UnknownTransfer",
    "pay_key",
    "top_up_key",
]
