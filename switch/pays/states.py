"""The pay state machine (docs/pay.md). Pure: no I/O.

    received -> reserved -> sent -> confirmed -> posted      (receipt)
                              \\-> rejected  -> voided       (refund)
                              \\-> unknown   -> confirmed | rejected (status inquiry)
                                            \\-> voided      (reversed at deadline)
    received -> voided    (declined: the wallet could not cover it; nothing moved)
    reserved -> voided    (the biller could not be reached before sending)

Each state is written to the database *before* the side effect that follows it, so a
crash anywhere resumes from the last durable state. The same table is enforced by a
trigger on ``pays`` (migration 0003).
"""

from __future__ import annotations

import enum


class PayState(enum.StrEnum):
    RECEIVED = "received"
    RESERVED = "reserved"
    SENT = "sent"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    POSTED = "posted"
    VOIDED = "voided"

    @property
    def final(self) -> bool:
        return self in (PayState.POSTED, PayState.VOIDED)


S = PayState
TRANSITIONS: dict[PayState, frozenset[PayState]] = {
    S.RECEIVED: frozenset({S.RESERVED, S.VOIDED}),
    S.RESERVED: frozenset({S.SENT, S.VOIDED}),
    S.SENT: frozenset({S.CONFIRMED, S.REJECTED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.CONFIRMED, S.REJECTED, S.VOIDED}),
    S.CONFIRMED: frozenset({S.POSTED}),
    S.REJECTED: frozenset({S.VOIDED}),
    S.POSTED: frozenset(),
    S.VOIDED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def check_transition(old: PayState, new: PayState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"pay cannot go from {old} to {new}")
