"""The bill workflow's table, pure: every step from its state by its role, the
refusals (wrong state, another role's step, no reason, an amount nobody may amend),
and the zero-amount bill that is paid at once."""

from __future__ import annotations

import pytest

from switch.bulk import workflow
from switch.bulk.workflow import RULES, StepRefused, step


@pytest.mark.parametrize(("at", "action"), sorted(RULES))
def test_every_step_of_the_table_by_its_own_role(at: str, action: str) -> None:
    rule = RULES[(at, action)]
    to, _ = step(at, action, rule.role, reason="remarks", amount_now=100)
    assert to == rule.to
    others = {"site_incharge", "dgm_f", "circle_nodal", workflow.SYSTEM} - {rule.role}
    for role in others:
        with pytest.raises(StepRefused) as refused:
            step(at, action, role, reason="remarks", amount_now=100)
        assert refused.value.code == "forbidden"
    if rule.needs_reason:
        with pytest.raises(StepRefused, match="remarks or a reason"):
            step(at, action, rule.role, reason="  ", amount_now=100)


def test_an_end_takes_no_step() -> None:
    for end in workflow.ENDS:
        for action in workflow.ACTIONS:
            with pytest.raises(StepRefused) as refused:
                step(end, action, "circle_nodal", reason="x")
            assert refused.value.code == "wrong_state"


def test_only_the_site_incharge_and_dgm_f_amend_the_amount() -> None:
    assert step("site_incharge", "approve", "site_incharge", reason="ok",
                approved_paise=5000) == ("dgm_f", 5000)  # fmt: skip
    assert step("dgm_f", "approve", "dgm_f", approved_paise=0) == ("circle_l1", 0)
    with pytest.raises(StepRefused, match="only the site in-charge and DGM"):
        step("circle_l1", "approve", "circle_nodal", approved_paise=10)
    with pytest.raises(StepRefused, match="never negative"):
        step("dgm_f", "approve", "dgm_f", approved_paise=-1)


def test_nothing_to_pay_goes_straight_to_paid_and_l1_chooses_where_back() -> None:
    assert step("circle_l1", "approve", "circle_nodal", amount_now=0) == ("paid", None)
    assert step("circle_l1", "approve", "circle_nodal", amount_now=1) == ("erp", None)
    assert step("circle_l1", "send_back", "circle_nodal", reason="r",
                back_to="site_incharge")[0] == "site_incharge"  # fmt: skip
    with pytest.raises(StepRefused):
        step("circle_l1", "send_back", "circle_nodal", reason="r", back_to="erp")
