"""Where a bill stands and who may move it, pure: the approval chain, the ERP's
answers and the pay run, as a table of (state, action) -> next state, with the role
that may take the action.

| state | action | role | next |
|---|---|---|---|
| site_incharge | approve (remarks, an approved amount) | site_incharge | dgm_f |
| site_incharge | not_to_pay (remarks) | site_incharge | not_to_pay |
| dgm_f | approve (bulk; an approved amount) | dgm_f | circle_l1 |
| dgm_f | send_back (reason) | dgm_f | site_incharge |
| circle_l1 | approve (bulk) | circle_nodal | erp, or paid when the approved amount is 0 |
| circle_l1 | send_back (reason; to dgm_f or site_incharge) | circle_nodal | that one |
| erp | liability (document number, TDS) | the ERP | liability |
| erp | invoice_failure (reason) | the ERP | invoice_failure |
| invoice_failure, liability_failure | resubmit | circle_nodal | erp |
| invoice_failure, liability_failure | cancel (reason) | circle_nodal | cancelled |
| liability | liability_failure (reason) | the ERP | liability_failure |
| liability | pay | a pay run | paying |
| paying | paid | a pay run | paid |
| paying | unpaid (reason) | a pay run | liability |

A bill enters at site_incharge or dgm_f (``validation.Outcome.first_approver``). The
ends are paid, not_to_pay and cancelled. A step is taken only from the state the
table names, read under the bill's row lock: two approvers of one bill cannot both
move it, and a step on a stale page is refused, never applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass

ENDS = ("paid", "not_to_pay", "cancelled")
SYSTEM = "system"  # the ERP's answers and the pay run: no person's role


@dataclass(frozen=True)
class Step:
    role: str
    to: str
    needs_reason: bool = False


RULES: dict[tuple[str, str], Step] = {
    ("site_incharge", "approve"): Step("site_incharge", "dgm_f", needs_reason=True),
    ("site_incharge", "not_to_pay"): Step("site_incharge", "not_to_pay", needs_reason=True),
    ("dgm_f", "approve"): Step("dgm_f", "circle_l1"),
    ("dgm_f", "send_back"): Step("dgm_f", "site_incharge", needs_reason=True),
    ("circle_l1", "approve"): Step("circle_nodal", "erp"),
    ("circle_l1", "send_back"): Step("circle_nodal", "dgm_f", needs_reason=True),
    ("erp", "liability"): Step(SYSTEM, "liability"),
    ("erp", "invoice_failure"): Step(SYSTEM, "invoice_failure", needs_reason=True),
    ("invoice_failure", "resubmit"): Step("circle_nodal", "erp"),
    ("invoice_failure", "cancel"): Step("circle_nodal", "cancelled", needs_reason=True),
    ("liability", "liability_failure"): Step(SYSTEM, "liability_failure", needs_reason=True),
    ("liability_failure", "resubmit"): Step("circle_nodal", "erp"),
    ("liability_failure", "cancel"): Step("circle_nodal", "cancelled", needs_reason=True),
    ("liability", "pay"): Step(SYSTEM, "paying"),
    ("paying", "paid"): Step(SYSTEM, "paid"),
    ("paying", "unpaid"): Step(SYSTEM, "liability", needs_reason=True),
}
ACTIONS = sorted({action for _, action in RULES})
# Who may change the approved amount on approving (the rest approve it as it stands).
AMENDS = frozenset({"site_incharge", "dgm_f"})


class StepRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # wrong_state | forbidden | reason_needed | invalid_amount


def step(
    state: str,
    action: str,
    role: str,
    *,
    reason: str | None = None,
    back_to: str | None = None,
    approved_paise: int | None = None,
    amount_now: int = 0,
) -> tuple[str, int | None]:
    """The next state, and the approved amount after the step (None: unchanged),
    or ``StepRefused`` saying why."""
    rule = RULES.get((state, action))
    if rule is None:
        raise StepRefused("wrong_state", f"a bill {state.replace('_', ' ')} cannot {action}")
    if rule.role != role:
        raise StepRefused("forbidden", f"{action} at {state} is the {rule.role}'s, not {role}'s")
    if rule.needs_reason and not (reason and reason.strip()):
        raise StepRefused("reason_needed", f"{action} needs remarks or a reason")
    if approved_paise is not None:
        if action != "approve" or state not in AMENDS:
            raise StepRefused("invalid_amount", "only the site in-charge and DGM (F) amend it")
        if approved_paise < 0:
            raise StepRefused("invalid_amount", "an approved amount is never negative")
    to = rule.to
    if (state, action) == ("circle_l1", "send_back") and back_to is not None:
        if back_to not in ("dgm_f", "site_incharge"):
            raise StepRefused("wrong_state", "a bill goes back to dgm_f or site_incharge")
        to = back_to
    if (state, action) == ("circle_l1", "approve") and amount_now == 0:
        to = "paid"  # nothing to pay: straight to the bills paid
    return to, approved_paise
