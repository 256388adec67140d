"""Rupees as people in India read them: lakh and crore grouping, exact to the paisa."""

from __future__ import annotations

from switch.money import count, rupees


def test_rupees_are_grouped_in_lakhs_and_crores() -> None:
    assert rupees(1_88_46_68_50) == "₹18,84,668.50"
    assert rupees(1_00_00_000_00) == "₹1,00,00,000.00"  # one crore
    assert rupees(45000) == "₹450.00" and rupees(1) == "₹0.01" and rupees(0) == "₹0.00"
    assert rupees(-5) == "-₹0.05"


def test_a_huge_amount_keeps_every_paisa() -> None:
    # A float would round this; the Decimal does not.
    assert rupees(9_007_199_254_740_993).replace(",", "") == "₹90071992547409.93"


def test_counts_are_grouped_the_same_way() -> None:
    assert count(1234567) == "12,34,567" and count(999) == "999"
