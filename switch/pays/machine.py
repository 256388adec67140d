"""The pay's state machine as pure code: what to do next, and what an answer means.

No I/O here. The interpreters (``switch/pays/flow.py`` for a terminal's pay and for
recovery) load the stored pay, ask ``next_step`` what to do, do that one thing (a
ledger call, a biller call, a record), turn what happened into an ``Answer``, and ask
``decide`` what it means: a state to record, a case to open, the next step, or stop.
The moves the decisions record are the ones ``switch/pays/states.py`` allows, which
the database's trigger on ``pays`` enforces as well (a test ties the two together).

The rules, each beside the code that keeps it:

1. **Write before the side effect that cannot be taken back.** ``sent`` is recorded
   *before* the biller is called (a crash then leaves a pay that is asked about,
   never sent twice); ``reversing`` is recorded *before* the first reversal.
2. **Ledger first, then the state that records it.** The hold is posted before
   ``posted`` is written and voided before ``voided`` is written: ledger calls are
   idempotent, so a crash in between is repaired by doing them again. One exception,
   rule 5.
3. **A pay found in ``sent`` is asked about, never sent again**: only the driver that
   has just recorded ``sent`` sends (``Decision.then = SEND``); anyone who loads a
   ``sent`` pay inquires.
4. **Never assume.** No answer, a garbled answer, or an "applied" for another account
   or amount leaves the pay ``unknown``; it is asked about again later, and reversed
   at its deadline (``at_deadline``). "Not found" is not "never": it is reversed too
   (the biller then refuses the payment if it arrives late), never just voided.
5. **Expiring a pay that never reached the biller records ``voided`` before its hold
   is voided** (``expire``): a driver elsewhere with an older copy can then no longer
   move it to ``sent``, so nothing is sent for a pay whose money went back.
6. **A posted hold wins.** Before a reversal is recorded or sent, the hold is checked:
   if it is already posted, a driver had the biller's receipt and died before
   recording it; the pay is posted and no reversal is ever sent.
7. **The biller applied what the ledger already voided** (only the hold's safety-net
   deadline does that): the pay ends ``voided`` as its money did, and a case asks a
   person to recover the amount. No second money movement is made on a guess.
8. **"Applied" is recorded (``confirmed``) before the hold is posted.** The record is
   a guarded move from the state the driver saw, so of two drivers racing on one pay
   (one heard "applied", the other "not found" a moment earlier and decided to
   reverse) exactly one wins: the reverser's ``reversing`` record makes the poster's
   ``confirmed`` fail, or the other way round. Posting straight after "applied" let a
   reversal be sent for a pay whose hold was being posted (found by the simulation:
   the switch posted, the biller reversed).
9. **A ledger step and the state it records are one transaction.** For the ledger
   steps (hold, post, void) the answer "done" always records a state (``sent``,
   ``posted``, ``voided``) and opens no case (``recorded_with``), so the interpreter
   applies the ledger request and that record in one database transaction: one
   commit instead of two, and rule 2 still holds (the effect is never after the
   record). A refusal (no funds; a hold already voided) writes neither and is
   decided as the answer it is. A record whose guard fails leaves the effect, as two
   separate steps would: the reloaded pay asks for it again and the ledger replays.
   ``confirmed`` stays a transaction of its own: recording it with the post that
   follows (the record first, the post only if it was made) was measured, and
   saved nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from switch.pays.states import PayState, check_transition

S = PayState


class VoidReason(enum.StrEnum):
    """Why a pay ended ``voided``: stored in ``pays.error_code``. A closed set: a
    biller's own refusal code is kept apart (``pays.biller_code``)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    WALLET_FROZEN = "wallet_frozen"
    LIMIT_EXCEEDED = "limit_exceeded"
    BILLER_REJECTED = "biller_rejected"
    UNKNOWN_CONSUMER = "unknown_consumer"
    BILLER_UNAVAILABLE = "biller_unavailable"
    EXPIRED = "expired"  # recovered before it reached the biller
    NOT_APPLIED_AT_BILLER = "not_applied_at_biller"  # reversed: the biller did not have it
    UNKNOWN_AT_DEADLINE = "unknown_at_deadline"  # reversed: still unknown at the deadline
    REVERSED = "reversed"
    APPLIED_AFTER_VOID = "applied_after_void"  # rule 7

    @property
    def terminal_code(self) -> str:
        """The code a terminal's ``failed`` answer carries (docs/protocol.md)."""
        return _TERMINAL_CODES.get(self, self.value)


# What a terminal is told. Reversed pays are one answer to the terminal ("reversed":
# the money is back); why they were reversed is for the back office.
_TERMINAL_CODES = {
    VoidReason.NOT_APPLIED_AT_BILLER: "reversed",
    VoidReason.UNKNOWN_AT_DEADLINE: "reversed",
    VoidReason.APPLIED_AFTER_VOID: "reversed",
}
TERMINAL_FAILURE_CODES = frozenset(r.terminal_code for r in VoidReason)


def terminal_code(error_code: str | None) -> str:
    """The terminal's code for a stored ``error_code`` (older rows may hold a biller's
    own code: a terminal is told ``biller_rejected`` for those)."""
    if error_code is None:
        return "failed"
    try:
        return VoidReason(error_code).terminal_code
    except ValueError:
        return VoidReason.BILLER_REJECTED.value


class Step(enum.StrEnum):
    """One thing an interpreter does: a single side effect (or a single record)."""

    HOLD = "hold"  # take the pay's hold in the ledger
    MARK_SENT = "mark_sent"  # reserved -> sent: the intent, before the call (rule 1)
    SEND = "send"  # call the biller's pay
    INQUIRE = "inquire"  # ask the biller's status
    CHECK_HOLD = "check_hold"  # before a reversal: is the hold already posted? (rule 6)
    FIND_TXN = "find_txn"  # the hold was posted before a crash: ask the biller's txn id
    REVERSE = "reverse"  # send a reversal
    POST = "post"  # post the hold
    VOID = "void"  # void the hold
    RELEASE = "release"  # void a hold that may not exist, after the pay is voided (rule 5)


class Answer(enum.StrEnum):
    """What happened when a step was done."""

    DONE = "done"  # a ledger call or record did what was asked
    NO_FUNDS = "no_funds"  # the hold was declined
    APPLIED = "applied"  # the biller has the payment, for this account and amount
    MISMATCH = "mismatch"  # the biller's "applied" is for another account or amount
    REFUSED = "refused"  # the biller refused it (its code in the step's biller_code)
    NO_SUCH_CONSUMER = "no_such_consumer"
    NOT_SENT = "not_sent"  # the request never left: nothing can have been applied
    NO_ANSWER = "no_answer"  # it may or may not have been applied
    NOT_FOUND = "not_found"  # the biller's status: no such payment (yet)
    HOLD_POSTED = "hold_posted"
    HOLD_NOT_POSTED = "hold_not_posted"
    ACKNOWLEDGED = "acknowledged"  # the reversal is done at the biller
    WILL_NOT_REVERSE = "will_not_reverse"  # applied, and the biller will not undo it
    HOLD_GONE = "hold_gone"  # the post met a hold the ledger had already voided


class Case(enum.StrEnum):
    """A reconciliation case the machine opens for a person."""

    NOT_REVERSIBLE = "not_reversible"  # posted: the biller would not undo it
    APPLIED_AFTER_VOID = "applied_after_void"  # rule 7


@dataclass(frozen=True)
class Heard:
    """An answer, with what came with it."""

    answer: Answer
    biller_txn_id: str | None = None  # with APPLIED and WILL_NOT_REVERSE
    biller_code: str | None = None  # with REFUSED: the biller's own code


@dataclass(frozen=True)
class Do:
    """A step, with what it carries from the answer that led to it."""

    step: Step
    reason: VoidReason | None = None  # for VOID and for a reversal being recorded
    biller_code: str | None = None  # a biller's refusal code, kept with the pay
    biller_txn_id: str | None = None  # for POST


@dataclass(frozen=True)
class Decision:
    """What an answer means. In order: open ``case``; record ``record`` (with
    ``reason``, ``biller_code``, ``biller_txn_id``); then do ``then`` in the same
    drive, or stop if ``stop``; otherwise ask ``next_step`` of the new state."""

    record: PayState | None = None
    reason: VoidReason | None = None
    biller_code: str | None = None
    biller_txn_id: str | None = None
    case: Case | None = None
    then: Do | None = None
    stop: bool = False


STOP = Decision(stop=True)
Rule = Callable[[PayState, "Do", Heard], Decision]

# In state S, with nothing carried over, the next step. Final states have none.
NEXT_STEP: dict[PayState, Step] = {
    S.RECEIVED: Step.HOLD,
    S.RESERVED: Step.MARK_SENT,
    S.SENT: Step.INQUIRE,  # rule 3: found in sent, it is asked about
    S.UNKNOWN: Step.INQUIRE,
    S.REVERSING: Step.CHECK_HOLD,  # rule 6, every time before a reversal is sent
    S.CONFIRMED: Step.POST,
    S.REJECTED: Step.VOID,
}


def next_step(pay_state: PayState, error_code: str | None = None) -> Do | None:
    """What to do with a pay in ``pay_state`` that nobody is in the middle of."""
    if pay_state.final:
        return None
    step = NEXT_STEP[pay_state]
    if pay_state is S.REJECTED:
        return Do(step, reason=_reason(error_code, VoidReason.BILLER_REJECTED))
    return Do(step, reason=_reason(error_code, None) if pay_state is S.REVERSING else None)


def at_deadline(pay_state: PayState) -> Do | None:
    """Recovery's step for a pay past its deadline: an unknown one is reversed (rule 4);
    any other goes on as ``next_step`` says."""
    if pay_state is S.UNKNOWN:
        return Do(Step.CHECK_HOLD, reason=VoidReason.UNKNOWN_AT_DEADLINE)
    return next_step(pay_state)


LEDGER_STEPS = frozenset({Step.HOLD, Step.POST, Step.VOID})


def recorded_with(pay_state: PayState, do: Do) -> Decision:
    """Rule 9: for a ledger step, the decision its "done" makes (a record, never a
    case), to be written in the ledger request's own transaction."""
    assert do.step in LEDGER_STEPS, do
    done = decide(pay_state, do, Heard(Answer.DONE))
    assert done.record is not None and done.case is None, (do, done)
    return done


def expire(pay_state: PayState) -> Decision | None:
    """Recovery's decision for a pay idle past ``recovery_idle_s`` that never reached
    the biller: voided, then its hold released (rule 5). None: it did reach it (or is
    final), and it is driven on instead."""
    if pay_state not in (S.RECEIVED, S.RESERVED):
        return None
    return Decision(record=S.VOIDED, reason=VoidReason.EXPIRED, then=Do(Step.RELEASE))


def decide(pay_state: PayState, do: Do, heard: Heard | Answer) -> Decision:
    """What ``heard``, the answer to ``do`` done on a pay in ``pay_state``, means."""
    if isinstance(heard, Answer):
        heard = Heard(heard)
    rule = _RULES[do.step].get(heard.answer)
    if rule is None:
        raise AssertionError(f"{do.step} cannot answer {heard.answer}")
    decision = rule(pay_state, do, heard)
    if decision.record is not None:
        check_transition(pay_state, decision.record)
    return decision


def _reason(error_code: str | None, default: VoidReason | None) -> VoidReason | None:
    try:
        return VoidReason(error_code) if error_code else default
    except ValueError:
        return default


# -- the answer table: (step, answer) -> decision -----------------------------------
# Each rule takes (the pay's state, the step done, what was heard).


def _record_sent_then_send(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(record=S.SENT, then=Do(Step.SEND))  # rules 1 and 3


def _void(reason: VoidReason) -> Rule:
    def rule(state: PayState, do: Do, heard: Heard) -> Decision:
        return Decision(then=Do(Step.VOID, reason=reason, biller_code=heard.biller_code))

    return rule


def _confirm(state: PayState, do: Do, heard: Heard) -> Decision:
    # Rule 8: the guarded record first; then next_step(confirmed) posts (rule 2).
    return Decision(record=S.CONFIRMED, biller_txn_id=heard.biller_txn_id)


def _unknown(state: PayState, do: Do, heard: Heard) -> Decision:
    # Rule 4. A pay just sent is asked about at once (no stop); one already unknown
    # waits for the next inquiry.
    if state is S.SENT:
        return Decision(record=S.UNKNOWN, stop=do.step is Step.INQUIRE)
    return STOP


def _reverse_unless_posted(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(then=Do(Step.CHECK_HOLD, reason=VoidReason.NOT_APPLIED_AT_BILLER))


def _hold_not_posted(state: PayState, do: Do, heard: Heard) -> Decision:
    if state is S.REVERSING:
        return Decision(then=Do(Step.REVERSE, reason=do.reason))
    # Rule 1: the decision to reverse is durable before the first reversal is sent.
    return Decision(record=S.REVERSING, reason=do.reason, then=Do(Step.REVERSE, reason=do.reason))


def _posted_before_a_crash(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(then=Do(Step.FIND_TXN))  # rule 6


def _record_posted(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(record=S.POSTED, biller_txn_id=do.biller_txn_id)


def _found_txn(state: PayState, do: Do, heard: Heard) -> Decision:
    # The biller's txn id went with the crashed process: asked again; if the biller
    # cannot say now, reconciliation matches the pay by the switch's txn id.
    return Decision(record=S.POSTED, biller_txn_id=heard.biller_txn_id)


def _acknowledged(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(then=Do(Step.VOID, reason=do.reason or VoidReason.REVERSED))


def _not_reversible(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(case=Case.NOT_REVERSIBLE, then=Do(Step.POST, biller_txn_id=heard.biller_txn_id))


def _applied_after_void(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(
        case=Case.APPLIED_AFTER_VOID, record=S.VOIDED, reason=VoidReason.APPLIED_AFTER_VOID
    )  # rule 7


def _record_voided(state: PayState, do: Do, heard: Heard) -> Decision:
    assert do.reason is not None, "a void always says why"
    return Decision(record=S.VOIDED, reason=do.reason, biller_code=do.biller_code)


def _released(state: PayState, do: Do, heard: Heard) -> Decision:
    return STOP  # rule 5: the pay was recorded voided first


def _no_funds(state: PayState, do: Do, heard: Heard) -> Decision:
    return Decision(record=S.VOIDED, reason=VoidReason.INSUFFICIENT_FUNDS)


def _wait(state: PayState, do: Do, heard: Heard) -> Decision:
    return STOP  # the reversal goes again later (store-and-forward)


A = Answer
_RULES: dict[Step, dict[Answer, Rule]] = {
    Step.HOLD: {A.DONE: _record_sent_then_send, A.NO_FUNDS: _no_funds},
    Step.MARK_SENT: {A.DONE: _record_sent_then_send},
    Step.SEND: {
        A.APPLIED: _confirm,
        A.MISMATCH: _unknown,
        A.NO_ANSWER: _unknown,
        A.REFUSED: _void(VoidReason.BILLER_REJECTED),
        A.NO_SUCH_CONSUMER: _void(VoidReason.UNKNOWN_CONSUMER),
        A.NOT_SENT: _void(VoidReason.BILLER_UNAVAILABLE),
    },
    Step.INQUIRE: {
        A.APPLIED: _confirm,
        A.MISMATCH: _unknown,
        A.NO_ANSWER: _unknown,
        A.NOT_FOUND: _reverse_unless_posted,  # rule 4
    },
    Step.CHECK_HOLD: {A.HOLD_POSTED: _posted_before_a_crash, A.HOLD_NOT_POSTED: _hold_not_posted},
    Step.FIND_TXN: {
        A.APPLIED: _found_txn,
        A.NO_ANSWER: _found_txn,
        A.NOT_FOUND: _found_txn,
        A.MISMATCH: _found_txn,
    },
    Step.REVERSE: {
        A.ACKNOWLEDGED: _acknowledged,
        A.WILL_NOT_REVERSE: _not_reversible,
        A.NO_ANSWER: _wait,
    },
    Step.POST: {A.DONE: _record_posted, A.HOLD_GONE: _applied_after_void},
    Step.VOID: {A.DONE: _record_voided},
    Step.RELEASE: {A.DONE: _released},
}
