"""How a posted pay's amount is shared out at settlement: pure integer arithmetic.

Out of each posted pay the biller pays:

* the agent's commission: ``amount * commission_bps // 10_000`` (rounded down: a
  fraction of a paisa is never paid);
* the switch's fee: ``fee_paise`` per pay, but never more than what is left of the
  amount after the commission (a ₹1 pay cannot cost the biller more than ₹1).

The rest is the biller's. The database computes the same thing for a whole window
(switch/settlement/store.py, CLOSE_SQL); a test checks the two agree.
"""

from __future__ import annotations

BPS_DENOMINATOR = 10_000
MAX_COMMISSION_BPS = 10_000


def commission_paise(amount_paise: int, commission_bps: int) -> int:
    assert amount_paise > 0 and 0 <= commission_bps <= MAX_COMMISSION_BPS
    return amount_paise * commission_bps // BPS_DENOMINATOR


def fee_paise(amount_paise: int, commission_bps: int, flat_fee_paise: int) -> int:
    assert flat_fee_paise >= 0
    return min(flat_fee_paise, amount_paise - commission_paise(amount_paise, commission_bps))
