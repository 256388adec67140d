"""What resolving a reconciliation case moves: pure arithmetic, no I/O.

The rule: after a resolution every party stands where it would have stood had the
payment gone right the first time. Commission and fee are paid on what the biller
really applied, and only on that:

* a **refund** (``refund_agent``) undoes what settlement paid on money the biller
  never kept. The agent gets its money back less the commission it earned on it; the
  switch returns its fee; the biller's later settlements recover exactly what it was
  paid for it (amount − commission − fee). Refunds are reckoned against the pay's
  *settled* figures, so the pay's window must be settled first.
* a **force-post** (``force_post``) charges the agent for money the biller did keep
  and pays on it what settlement would have: the agent its commission, the switch its
  fee (at the biller's current terms); the biller's next settlement pays it the rest.

case (resolution)                 agent's wallet     fee income  biller's next settlements
missing_at_biller (refund)        + (A - c)          - f         recover A - c - f
amount_mismatch, d less (refund)  + (d - c + c')                 recover d - c + c'
success_after_reversal, or        - X + c(X)         + f(X)      pay X - c(X) - f(X)
  missing_at_switch (force_post)
amount_mismatch, d more           - d + c(A+d) - c               pay d - (c(A+d) - c)
  (force_post)
any (no_money)                    nothing            nothing     nothing

A: the pay's amount; c, f: its settled commission and fee; c' = c(A - d): the
commission on what the biller kept; X: the amount the biller applied; c(·), f(·): at
the biller's current terms (switch/settlement/amounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from switch.settlement import amounts

RESOLUTIONS = ("refund_agent", "force_post", "no_money")


class CaseError(Exception):
    """A resolution refused; ``reason`` is ``invalid`` (it does not fit the case, or
    the case is resolved already) or ``insufficient_funds`` (an account the money
    would come from does not hold it)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Terms:
    """A biller's commercial terms (``[[billers]]``)."""

    commission_bps: int
    fee_paise: int


@dataclass(frozen=True)
class SettledLine:
    """The pay's line in its settled window: what settlement paid on it."""

    commission_paise: int
    fee_paise: int


@dataclass(frozen=True)
class Plan:
    """The money a resolution moves, every figure ≥ 0 (switch/settlement/cases.py turns
    each non-zero one into a ledger transfer)."""

    refund_paise: int = 0  # biller's receivable -> agent's wallet
    fee_returned_paise: int = 0  # switch's fee income -> biller's receivable
    commission_withheld_paise: int = 0  # (not moved: the part of the refund kept back)
    charge_paise: int = 0  # agent's wallet -> biller's payable
    commission_paid_paise: int = 0  # biller's payable -> agent's wallet
    fee_paid_paise: int = 0  # biller's payable -> switch's fee income
    adjustment_kind: str | None = None  # "refund" | "force_post": netted at settlement
    adjustment_paise: int = 0

    @property
    def wallet_change_paise(self) -> int:
        return self.refund_paise + self.commission_paid_paise - self.charge_paise

    def as_dict(self) -> dict[str, int | str | None]:
        return self.__dict__ | {"wallet_change_paise": self.wallet_change_paise}


def plan(
    case_id: int,
    kind: str,
    resolution: str,
    case_amount_paise: int,
    biller_amount_paise: int | None,
    pay_amount_paise: int | None,
    settled: SettledLine | None,
    terms: Terms,
) -> Plan:
    """What resolving case ``case_id`` (of ``kind``) with ``resolution`` moves; raises
    CaseError for a resolution that does not fit the case."""
    if resolution not in RESOLUTIONS:
        raise CaseError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
    if resolution == "no_money":
        return Plan()
    if pay_amount_paise is None:
        raise CaseError(
            f"case {case_id}: the switch has no pay for it, so no agent to "
            "refund or charge; settle it with the biller and resolve with no_money"
        )
    if kind == "amount_mismatch":
        assert biller_amount_paise is not None
        kept_less = biller_amount_paise < pay_amount_paise
        if (resolution == "refund_agent") != kept_less:
            right = "refund_agent" if kept_less else "force_post"
            raise CaseError(
                f"case {case_id}: the biller kept {'less' if kept_less else 'more'} than "
                f"the agent paid, so the resolution is {right}"
            )
    else:
        fits = {
            "missing_at_biller": "refund_agent",
            "missing_at_switch": "force_post",
            "success_after_reversal": "force_post",
        }.get(kind)
        if fits != resolution:
            raise CaseError(f"case {case_id} ({kind}) is resolved by {fits} or no_money")
    if resolution == "refund_agent":
        if settled is None:
            raise CaseError(
                f"case {case_id}: the pay's window is not settled yet; a refund is "
                "reckoned against what settlement paid on it: settle the window "
                "(switch settle close), then resolve"
            )
        return _refund(kind, case_amount_paise, pay_amount_paise, settled, terms)
    return _force_post(kind, case_amount_paise, pay_amount_paise, settled, terms)


def _refund(kind: str, d: int, a: int, settled: SettledLine, terms: Terms) -> Plan:
    c, f = settled.commission_paise, settled.fee_paise
    if kind == "missing_at_biller":  # nothing was kept: undo all of it
        back = a - c - f
        return Plan(a - c, f, c, adjustment_kind="refund", adjustment_paise=back)
    kept = a - d  # the biller kept this much: commission is owed on that alone
    right = amounts.commission_paise(kept, terms.commission_bps) if kept > 0 else 0
    withheld = min(d, max(0, c - right))
    return Plan(d - withheld, 0, withheld, adjustment_kind="refund", adjustment_paise=d - withheld)


def _force_post(kind: str, x: int, a: int, settled: SettledLine | None, terms: Terms) -> Plan:
    bps = terms.commission_bps
    if kind == "amount_mismatch":  # the biller kept x more than the pay: commission on it
        before = settled.commission_paise if settled else amounts.commission_paise(a, bps)
        extra = max(0, amounts.commission_paise(a + x, bps) - before)
        return Plan(
            charge_paise=x,
            commission_paid_paise=extra,
            adjustment_kind="force_post",
            adjustment_paise=x - extra,
        )
    c = amounts.commission_paise(x, bps)
    f = amounts.fee_paise(x, bps, terms.fee_paise)
    return Plan(
        charge_paise=x,
        commission_paid_paise=c,
        fee_paid_paise=f,
        adjustment_kind="force_post",
        adjustment_paise=x - c - f,
    )
