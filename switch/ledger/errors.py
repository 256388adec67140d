"""Everything the ledger can refuse, each with a stable code.

The codes are part of the product: the terminal protocol and the admin API pass them
on, so never rename one. Every refusal writes nothing, except ``insufficient_funds``
on a reserve, which records the rejected attempt so a retry with the same key gets
the same answer.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class; ``code`` is stable and machine-readable."""

    code = "ledger_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidAmount(LedgerError):
    code = "invalid_amount"


class InvalidKey(LedgerError):
    code = "invalid_key"


class UnknownAccount(LedgerError):
    code = "unknown_account"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class ModifiedRequest(LedgerError):
    """The idempotency key was used before with different content (Mojaloop's 3106)."""

    code = "modified_request"


class UnknownTransfer(LedgerError):
    code = "unknown_transfer"


class AlreadyResolved(LedgerError):
    """Post of a voided transfer, void of a posted one, or resolving a one-phase one."""

    code = "already_resolved"


class TransferArchived(LedgerError):
    """The key names a transfer whose month was archived (``switch db archive``): a
    key is used once, for ever, so a late replay is refused, never applied again."""

    code = "transfer_archived"


class LedgerBusy(LedgerError):
    """The queue is full: answered at once instead of queueing without bound."""

    code = "ledger_busy"


class LedgerUnavailable(LedgerError):
    """The database did not answer in time. The request may or may not have been
    applied: ask again with the same key to learn which."""

    code = "ledger_unavailable"


class LedgerClosed(LedgerError):
    code = "ledger_closed"
