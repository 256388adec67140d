"""What resolving a case moves (pure): after it, the agent, the switch and the biller
each stand exactly where they would had the payment gone right the first time, and
no paisa appears or vanishes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switch.settlement.amounts import commission_paise, fee_paise
from switch.settlement.resolutions import CaseError, Plan, SettledLine, Terms, plan

amounts = st.integers(min_value=1, max_value=10**9)
terms = st.builds(
    Terms, st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10**6)
)


@dataclass
class Standing:
    """Each party's money from one payment: the agent's wallet, the switch's fee
    income, the biller's (paid out at settlements, less what it gives back)."""

    agent: int = 0
    switch: int = 0
    biller: int = 0

    def settled(self, amount: int, t: Terms) -> SettledLine:
        """A posted pay settled: the agent paid, commission and fee shared out."""
        c, f = (
            commission_paise(amount, t.commission_bps),
            fee_paise(amount, t.commission_bps, t.fee_paise),
        )
        self.agent += -amount + c
        self.switch += f
        self.biller += amount - c - f
        return SettledLine(c, f)

    def resolved(self, p: Plan) -> None:
        """The plan's transfers, and the settlement that nets its adjustment."""
        self.agent += p.wallet_change_paise
        self.switch += p.fee_paid_paise - p.fee_returned_paise
        netted = p.adjustment_paise if p.adjustment_kind == "force_post" else -p.adjustment_paise
        self.biller += netted
        # The biller's payable and receivable end where they began: all that comes
        # into them (charge, fee returned, recovery) goes out again.
        moved_in = (
            p.charge_paise
            + p.fee_returned_paise
            + p.adjustment_paise * (p.adjustment_kind == "refund")
        )
        moved_out = (
            p.refund_paise
            + p.commission_paid_paise
            + p.fee_paid_paise
            + p.adjustment_paise * (p.adjustment_kind == "force_post")
        )
        assert moved_in == moved_out


def as_if_paid(amount: int, t: Terms) -> Standing:
    right = Standing()
    if amount > 0:
        right.settled(amount, t)
    return right


@given(amounts, terms)
def test_a_refund_of_a_payment_the_biller_never_kept_undoes_it_entirely(a: int, t: Terms) -> None:
    now = Standing()
    line = now.settled(a, t)
    now.resolved(plan(1, "missing_at_biller", "refund_agent", a, None, a, line, t))
    assert now == Standing()  # as if there had been no payment at all


@given(amounts, amounts, terms)
def test_a_short_applied_payment_ends_as_if_it_had_been_for_less(a: int, d: int, t: Terms) -> None:
    d = min(d, a)  # the biller kept a - d, at least nothing
    now = Standing()
    line = now.settled(a, t)
    now.resolved(plan(1, "amount_mismatch", "refund_agent", d, a - d, a, line, t))
    right = as_if_paid(a - d, t)
    assert now.agent == right.agent
    # The switch keeps its flat fee on the payment (it went through, for less), and
    # the biller bears the fee it already paid.
    assert now.biller + now.switch == right.biller + right.switch


@given(amounts, terms, st.sampled_from(["success_after_reversal", "missing_at_switch"]))
def test_a_force_post_ends_as_if_the_payment_had_gone_through(x: int, t: Terms, kind: str) -> None:
    now = Standing()  # the pay was voided: nothing moved for it
    now.resolved(plan(1, kind, "force_post", x, x, x, None, t))
    assert now == as_if_paid(x, t)


@given(amounts, amounts, terms, st.booleans())
def test_a_payment_the_biller_kept_more_of_ends_as_if_it_had_been_for_more(
    a: int, d: int, t: Terms, settled_first: bool
) -> None:
    now = Standing()
    line = now.settled(a, t)
    now.resolved(
        plan(1, "amount_mismatch", "force_post", d, a + d, a, line if settled_first else None, t)
    )
    right = as_if_paid(a + d, t)
    assert now.agent == right.agent
    assert now.biller + now.switch == right.biller + right.switch


def test_resolutions_that_do_not_fit_are_refused_with_the_reason() -> None:
    t, line = Terms(50, 100), SettledLine(50, 100)
    with pytest.raises(CaseError, match="refund_agent or no_money"):
        plan(7, "missing_at_biller", "force_post", 100_00, None, 100_00, line, t)
    with pytest.raises(CaseError, match="force_post or no_money"):
        plan(7, "success_after_reversal", "refund_agent", 100_00, 100_00, 100_00, line, t)
    with pytest.raises(CaseError, match="kept more"):
        plan(7, "amount_mismatch", "refund_agent", 5_00, 105_00, 100_00, line, t)
    with pytest.raises(CaseError, match="no agent"):
        plan(7, "missing_at_switch", "force_post", 100_00, 100_00, None, None, t)
    with pytest.raises(CaseError, match="not settled yet"):
        plan(7, "missing_at_biller", "refund_agent", 100_00, None, 100_00, None, t)
    with pytest.raises(CaseError, match="one of"):
        plan(7, "missing_at_biller", "write_off", 100_00, None, 100_00, line, t)
    assert plan(7, "missing_at_switch", "no_money", 100_00, 100_00, None, None, t) == Plan()
