"""The pay's state machine, without I/O: every decision it can take is a move the
state table allows, every path ends final or waiting on the biller, the database's
trigger allows exactly the table's moves, and the rules beside the code hold."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from switch.db import Connection
from switch.db.database import Database
from switch.pays import machine
from switch.pays.machine import Answer, Decision, Do, Heard, Step, VoidReason
from switch.pays.states import TRANSITIONS, PayState

S = PayState


def answers_of(step: Step) -> list[Answer]:
    return list(machine._RULES[step])


def reachable() -> set[tuple[PayState, Do]]:
    """Every (state, step) the machine can reach, from a new pay and from recovery's
    entry points, with every answer; checking on the way that each rule's own record
    (taken from the raw rule, before ``decide`` checks it) is a move the state table
    allows."""
    starts = [(S.RECEIVED, machine.next_step(S.RECEIVED))]
    starts += [(state, machine.at_deadline(state)) for state in PayState]
    expired = machine.expire(S.RECEIVED)
    assert expired is not None and expired.record is not None
    starts.append((expired.record, expired.then))
    todo, seen = [(state, do) for state, do in starts if do is not None], set()
    while todo:
        state, do = todo.pop()
        if (state, do) in seen:
            continue
        seen.add((state, do))
        for answer in answers_of(do.step):
            decision = machine._RULES[do.step][answer](state, do, Heard(answer, "B1", "code_1"))
            if decision.record is not None:
                assert decision.record in TRANSITIONS[state], (state, do.step, answer)
            after = decision.record or state
            following = None if decision.stop else (decision.then or machine.next_step(after))
            if following is not None:
                todo.append((after, following))
    return seen


def test_every_decision_records_an_allowed_move_or_nothing() -> None:
    assert len(reachable()) > 10  # the walk did reach the machine's steps


def test_every_ledger_step_is_written_with_the_state_it_leads_to() -> None:
    """Rule 9: wherever a hold, post or void can happen, its "done" records a state
    and opens no case, so the flow writes the two in one transaction; a refusal is
    an answer of its own that records something else (or nothing)."""
    ledger_steps = {(state, do) for state, do in reachable() if do.step in machine.LEDGER_STEPS}
    assert {do.step for _, do in ledger_steps} == set(machine.LEDGER_STEPS)
    for state, do in ledger_steps:
        done = machine.recorded_with(state, do)
        assert done.record in TRANSITIONS[state] and done.case is None, (state, do)
    assert machine.recorded_with(S.RECEIVED, Do(Step.HOLD)).record is S.SENT
    assert machine.decide(S.RECEIVED, Do(Step.HOLD), Answer.NO_FUNDS).record is S.VOIDED
    assert machine.recorded_with(S.CONFIRMED, Do(Step.POST)).record is S.POSTED
    with pytest.raises(AssertionError):
        machine.recorded_with(S.SENT, Do(Step.SEND))  # a biller call is never combined


def walk(state: PayState, do: Do | None, answers: dict[Step, Answer], limit: int = 12) -> list[str]:
    """Follow the machine from ``state`` with one fixed answer per step; the path."""
    path: list[str] = []
    for _ in range(limit):
        do = do or machine.next_step(state)
        if do is None:
            return path
        decision = machine.decide(state, do, Heard(answers[do.step], "B1"))
        path.append(f"{do.step}:{answers[do.step]}")
        state = decision.record or state
        if decision.stop:
            return [*path, f"stop@{state}"]
        do = decision.then
    raise AssertionError(f"no end after {limit} steps: {path}")


HAPPY = {
    Step.HOLD: Answer.DONE,
    Step.MARK_SENT: Answer.DONE,
    Step.SEND: Answer.APPLIED,
    Step.INQUIRE: Answer.APPLIED,
    Step.CHECK_HOLD: Answer.HOLD_NOT_POSTED,
    Step.FIND_TXN: Answer.APPLIED,
    Step.REVERSE: Answer.ACKNOWLEDGED,
    Step.POST: Answer.DONE,
    Step.VOID: Answer.DONE,
    Step.RELEASE: Answer.DONE,
}


def test_the_happy_path_holds_sends_posts() -> None:
    assert walk(S.RECEIVED, None, HAPPY) == ["hold:done", "send:applied", "post:done"]


def test_a_pay_found_in_sent_is_asked_about_never_sent_again() -> None:
    """Rule 3: only the driver that recorded 'sent' sends."""
    assert machine.next_step(S.SENT) == Do(Step.INQUIRE)
    for state in PayState:
        step = machine.next_step(state)
        assert step is None or step.step is not Step.SEND


def test_no_answer_then_not_found_is_reversed_not_voided() -> None:
    """Rule 4: 'not found' is reversed (recorded before the reversal is sent)."""
    answers = HAPPY | {Step.SEND: Answer.NO_ANSWER, Step.INQUIRE: Answer.NOT_FOUND}
    assert walk(S.RECEIVED, None, answers) == [
        "hold:done",
        "send:no_answer",
        "inquire:not_found",
        "check_hold:hold_not_posted",
        "reverse:acknowledged",
        "void:done",
    ]
    sent = machine.decide(
        S.UNKNOWN, Do(Step.CHECK_HOLD, VoidReason.NOT_APPLIED_AT_BILLER), Answer.HOLD_NOT_POSTED
    )
    assert sent.record is S.REVERSING and sent.then == Do(
        Step.REVERSE, VoidReason.NOT_APPLIED_AT_BILLER
    )


def test_a_posted_hold_is_never_reversed() -> None:
    """Rule 6: before a reversal is recorded or sent, a posted hold makes it posted."""
    for state in (S.UNKNOWN, S.REVERSING):
        answers = HAPPY | {Step.CHECK_HOLD: Answer.HOLD_POSTED, Step.FIND_TXN: Answer.NO_ANSWER}
        path = walk(state, machine.at_deadline(state), answers)
        assert path == ["check_hold:hold_posted", "find_txn:no_answer"]
        assert not any(p.startswith("reverse") for p in path)


def test_expire_records_voided_before_the_hold_is_released() -> None:
    """Rule 5, and only for pays that never reached the biller."""
    decision = machine.expire(S.RECEIVED)
    assert decision == Decision(record=S.VOIDED, reason=VoidReason.EXPIRED, then=Do(Step.RELEASE))
    for state in (S.SENT, S.UNKNOWN, S.REVERSING, S.POSTED, S.VOIDED):
        assert machine.expire(state) is None
    assert machine.decide(S.VOIDED, Do(Step.RELEASE), Answer.DONE).stop


def test_a_post_that_meets_a_voided_hold_ends_voided_with_a_case() -> None:
    """Rule 7."""
    decision = machine.decide(S.SENT, Do(Step.POST, biller_txn_id="B1"), Answer.HOLD_GONE)
    assert decision.record is S.VOIDED and decision.reason is VoidReason.APPLIED_AFTER_VOID
    assert decision.case is machine.Case.APPLIED_AFTER_VOID


def test_a_biller_code_never_becomes_a_terminal_code() -> None:
    refused = machine.decide(
        S.SENT, Do(Step.SEND), Heard(Answer.REFUSED, None, "account_disconnected")
    )
    assert refused.then == Do(Step.VOID, VoidReason.BILLER_REJECTED, "account_disconnected")
    voided = machine.decide(S.SENT, refused.then, Answer.DONE)
    assert (voided.reason, voided.biller_code) == (
        VoidReason.BILLER_REJECTED,
        "account_disconnected",
    )
    assert machine.terminal_code("account_disconnected") == "biller_rejected"
    assert machine.terminal_code("unknown_at_deadline") == "reversed"
    assert {"insufficient_funds", "biller_rejected", "reversed"} <= machine.TERMINAL_FAILURE_CODES


def test_every_path_ends_final_or_waiting() -> None:
    """Whatever the answers, following the machine ends within the bound: final, or
    stopped (waiting on the biller)."""
    steps = list(Step)
    for state in PayState:
        for combo in itertools.product(*(answers_of(s) for s in steps)):
            answers = dict(zip(steps, combo, strict=True))
            walk(state, None, answers)
            if state is not S.RECEIVED:
                break  # the full product once is enough; other states, the first combo


async def test_the_database_allows_exactly_the_tables_moves(database_url: str) -> None:
    """The trigger on pays, tried for every (old, new) pair of states."""

    async def try_all(conn: Connection) -> list[tuple[PayState, PayState, bool]]:
        seen = []
        for n, (old, new) in enumerate(itertools.product(PayState, PayState)):
            pay_id = await conn.fetchval(
                """INSERT INTO pays (terminal_id, terminal_ref, agent_id, biller_id,
                                     consumer_account, amount_paise, state)
                   VALUES ('T1', $1, 'A1', 'UPPCL', '1234567890', 100, $2) RETURNING id""",
                f"r{n}",
                old.value,
            )
            try:
                await conn.execute("UPDATE pays SET state = $2 WHERE id = $1", pay_id, new.value)
                seen.append((old, new, True))
            except asyncpg.IntegrityConstraintViolationError:  # the trigger refused it
                seen.append((old, new, False))
        return seen

    async with Database.open(database_url, 2) as db:
        seen = await db.run(try_all)
    assert len(seen) == len(PayState) ** 2
    for old, new, allowed in seen:
        assert allowed == (new in TRANSITIONS[old] or (old == new and not old.final)), (old, new)


@pytest.mark.parametrize("reason", list(VoidReason))
def test_every_void_reason_has_a_documented_terminal_code(reason: VoidReason) -> None:
    """What a terminal can be told is what docs/protocol.md lists for `failed`."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    failed = doc.split("  - `failed`:")[1].split("  - `pending`")[0]
    assert f"`{reason.terminal_code}`" in failed
