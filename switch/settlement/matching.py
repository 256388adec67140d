"""Reconciliation's matching: the switch's pays of a window against the biller's
report. Pure: lists in, a classification out; no I/O (switch/settlement/recon.py
fetches both sides and records the breaks).

A biller line is matched to a pay by switch txn id, or else by biller txn id (a
biller that lost our id still has its own, which we recorded when it confirmed).

| switch                  | biller               | result                  |
|-------------------------|----------------------|-------------------------|
| posted, same amount     | applied              | matched                 |
| posted                  | applied, other amount| amount_mismatch         |
| posted                  | absent or reversed   | missing_at_biller       |
| voided after a reversal | applied              | success_after_reversal  |
| voided (any other way)  | applied              | missing_at_switch       |
| no such pay             | applied, in window   | missing_at_switch       |
| voided                  | absent or reversed   | matched (neither has it)|

A biller line whose pay belongs to another window is left to that window's run; a
line the switch has no pay for is this window's if the biller applied it within the
window's time range. Pays still in flight are not judged (settlement waits for them
anyway; reconciliation runs on closed windows).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from switch.protocols.billers.base import ReportedPayment
from switch.settlement.calendar import Window

# Why a pay was voided after a reversal was sent (switch/pays/flow.py, recovery.py).
REVERSAL_REASONS = frozenset({"not_applied_at_biller", "unknown_at_deadline"})


class Break(enum.StrEnum):
    MISSING_AT_BILLER = "missing_at_biller"
    MISSING_AT_SWITCH = "missing_at_switch"
    AMOUNT_MISMATCH = "amount_mismatch"
    SUCCESS_AFTER_REVERSAL = "success_after_reversal"


# What a person should do about each kind of break (recon_cases.suggested_action).
SUGGESTED_ACTION = {
    Break.MISSING_AT_BILLER: "refund_agent: the biller never kept it; give the agent it back",
    Break.MISSING_AT_SWITCH: "force_post: the biller applied it; charge the agent's wallet",
    Break.AMOUNT_MISMATCH: "investigate: agree the amount with the biller, then refund or close",
    Break.SUCCESS_AFTER_REVERSAL: "force_post: applied after we reversed; charge the agent",
}


@dataclass(frozen=True)
class SwitchPay:
    id: int
    agent_id: str
    amount_paise: int
    state: str  # posted | voided
    error_code: str | None
    biller_txn_id: str | None


@dataclass(frozen=True)
class Finding:
    kind: Break
    pay: SwitchPay | None
    line: ReportedPayment | None

    @property
    def amount_paise(self) -> int:
        """The money at stake: what the agent paid, or else what the biller applied."""
        if self.kind is Break.AMOUNT_MISMATCH:
            assert self.pay is not None and self.line is not None
            return abs(self.pay.amount_paise - self.line.amount_paise)
        if self.pay is not None:
            return self.pay.amount_paise
        assert self.line is not None
        return self.line.amount_paise

    def detail(self) -> str:
        ours = (
            f"switch txn {self.pay.id} {self.pay.state} {self.pay.amount_paise} paise"
            if self.pay
            else "no pay at the switch"
        )
        theirs = (
            f"biller txn {self.line.biller_txn_id} {self.line.status} "
            f"{self.line.amount_paise} paise at {self.line.applied_at.isoformat()}"
            if self.line
            else "nothing at the biller"
        )
        return f"{self.kind.value}: {ours}; {theirs}"


@dataclass
class Result:
    matched: int = 0
    findings: list[Finding] = field(default_factory=list)

    def count(self, kind: Break) -> int:
        return sum(1 for f in self.findings if f.kind is kind)


def reconcile(
    window: Window,
    ours: Sequence[SwitchPay],
    theirs: Iterable[ReportedPayment],
    other_windows_pay_ids: frozenset[int] = frozenset(),
) -> Result:
    """Classify every pay of the window and every biller line that belongs to it."""
    lines = list(theirs)
    by_switch_id = {ln.switch_txn_id: ln for ln in lines if ln.switch_txn_id is not None}
    by_biller_id = {ln.biller_txn_id: ln for ln in lines}
    used: set[int] = set()
    result = Result()
    for pay in ours:
        line = by_switch_id.get(pay.id)
        if line is None and pay.biller_txn_id:
            line = by_biller_id.get(pay.biller_txn_id)
        if line is not None:
            used.add(id(line))
        kind = _judge(pay, line)
        if kind is None:
            result.matched += 1
        else:
            result.findings.append(Finding(kind, pay, line))
    for line in lines:
        if id(line) in used or line.status != "applied":
            continue
        if line.switch_txn_id in other_windows_pay_ids:
            continue  # that pay's own window judges it
        if window.contains(line.applied_at):
            result.findings.append(Finding(Break.MISSING_AT_SWITCH, None, line))
    return result


def _judge(pay: SwitchPay, line: ReportedPayment | None) -> Break | None:
    applied = line is not None and line.status == "applied"
    if pay.state == "posted":
        if not applied:
            return Break.MISSING_AT_BILLER
        assert line is not None
        return None if line.amount_paise == pay.amount_paise else Break.AMOUNT_MISMATCH
    if not applied:
        return None  # voided here, not kept there: nothing moved on either side
    if pay.error_code in REVERSAL_REASONS:
        return Break.SUCCESS_AFTER_REVERSAL
    return Break.MISSING_AT_SWITCH
