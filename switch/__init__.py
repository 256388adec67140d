"""A bill-payment transaction switch.

Village shop owners (agents) take cash for electricity and water bills on e-POS
terminals; the switch debits the agent's prepaid wallet, pays the biller and settles
with it every business day. Money lives in a double-entry ledger in PostgreSQL
(:mod:`switch.ledger`); everything else is wiring around it.
"""

__version__ = "0.1.0"
