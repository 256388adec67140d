"""A biller's amount rule: how much of a bill a pay may be."""

from __future__ import annotations

from switch.catalogue.entries import MIN_PAY_PAISE
from switch.config import BillerConfig


def refusal(biller: BillerConfig, amount_paise: int, due_paise: int | None) -> str | None:
    """Why ``amount_paise`` may not be paid to ``biller`` (None: it may). ``due_paise``
    is the fetched bill's amount, or None when the pay names no bill."""
    if amount_paise < MIN_PAY_PAISE:
        return f"the least a pay may be is {MIN_PAY_PAISE} paise"
    if due_paise is None:
        return None  # no bill to measure it by (and the biller does not need one)
    if biller.amount_rule == "exact" and amount_paise != due_paise:
        return f"{biller.id} takes exactly the bill's amount, {due_paise} paise"
    if biller.amount_rule == "partial" and amount_paise > due_paise:
        return f"{biller.id} takes at most the bill's amount, {due_paise} paise"
    cap = due_paise + biller.advance_cap_paise
    if biller.amount_rule == "advance" and amount_paise > cap:
        return f"{biller.id} takes at most {cap} paise (the bill and the advance cap)"
    return None
