r"""The pay's states and the moves allowed between them (docs/pay.md). Pure: no I/O.

    received -> sent -> confirmed -> posted     (applied: recorded, then posted)
                     \-> voided                 (refused: the hold voided first)
                     \-> unknown -> confirmed  (status inquiry: applied)
                     \-> reversing -> voided   (never had it, or still unknown at the
                                                 deadline: reversed store-and-forward)

``sent`` is written *before* the biller is called, so a crash anywhere resumes from
the last durable state. ``confirmed`` is written before the hold is posted: a guarded
move, so a driver that heard "applied" and one that decided to reverse cannot both
win. The ledger's side effects come *before* the state that records them (the hold
before ``sent``, the post before ``posted``, the void before ``voided``): the ledger
calls are idempotent, so a crash in between is repaired by doing them again.
``reserved`` and ``rejected`` are moments the flow never writes today. What the
driver does in each state, and what each answer means, is ``switch/pays/machine.py``.
The same table is enforced by a trigger on ``pays``.
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
    REVERSING = "reversing"
    POSTED = "posted"
    VOIDED = "voided"

    @property
    def final(self) -> bool:
        return self in (PayState.POSTED, PayState.VOIDED)


S = PayState
TRANSITIONS: dict[PayState, frozenset[PayState]] = {
    S.RECEIVED: frozenset({S.RESERVED, S.SENT, S.VOIDED}),
    S.RESERVED: frozenset({S.SENT, S.VOIDED}),
    S.SENT: frozenset({S.CONFIRMED, S.REJECTED, S.UNKNOWN, S.POSTED, S.VOIDED, S.REVERSING}),
    S.UNKNOWN: frozenset({S.CONFIRMED, S.REJECTED, S.POSTED, S.VOIDED, S.REVERSING}),
    S.REVERSING: frozenset({S.VOIDED, S.POSTED}),
    S.CONFIRMED: frozenset({S.POSTED, S.VOIDED}),
    S.REJECTED: frozenset({S.VOIDED}),
    S.POSTED: frozenset(),
    S.VOIDED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def check_transition(old: PayState, new: PayState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"pay cannot go from {old} to {new}")
