"""Money as people read it: integer paise shown as rupees with Indian digit grouping
(₹18,84,668.50: lakh and crore, not thousands and millions), through Babel's ``en_IN``
locale rather than a formatter of our own. No float is ever involved: paise become an
exact Decimal of rupees."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, format_decimal


def rupees(paise: int) -> str:
    """123456789 -> '₹12,34,567.89'; -5 -> '-₹0.05'."""
    return str(format_currency(Decimal(paise).scaleb(-2), "INR", locale="en_IN"))


def count(n: int) -> str:
    """A count with Indian grouping: 1234567 -> '12,34,567'."""
    return str(format_decimal(n, locale="en_IN"))
