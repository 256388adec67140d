"""What each kind of file holds, how a row is checked, and how a chunk of rows is
written. A row is checked by the pure ``parse``: a money file's rows twice (once to
count and report before anything moves, once to write; the same function, so both
passes agree on which rows are good), every other file's once, as it is written.
``write`` runs inside the chunk's transaction and answers, row by row, what happened:
written, already present (in the switch, or earlier in this file), or rejected with a
reason.

- **agents** (name, email, mobile, date_of_birth, pan, fps_id, residential_address,
  shop_address, bank_account, ifsc; optional legacy_ref, region, district, gstin): an
  agent with its KYC and an empty wallet, ``pending_kyc`` (the four-eyes queue), or
  ``approved`` for a migration of agents the legacy system had approved.
- **balances** (agent, amount): the agent's opening balance, ``system:migration`` ->
  its wallet, once per agent.
- **topups** (bank_ref, agent, amount; optional value_date): a bank statement line, a
  top-up by the rules of one by hand (funding -> wallet, once per bank reference,
  never past the wallet's ceiling).
- **history** (legacy_ref, biller, account, amount, paid_at, status; optional agent,
  biller_txn_id, mobile): a payment the legacy system recorded, read-only, never sent
  to a biller, never in the ledger.
- **consumers** (biller, account, mobile; optional name): a consumer account of one of
  this switch's billers with its registered mobile (the consumer pages' sign-in).
- **terminals** (legacy_ref, agent): a terminal of an approved or active agent with a
  new key pair, its credentials file written for the device (CLI only).
- **complaints** (legacy_ref, category, description; optional agent, payment_ref): a
  complaint still open in the old system, ``logged`` here with its turnaround from now.

``agent`` is the switch's agent id (``AG000123``) or the agent's legacy reference.
"""

from __future__ import annotations

from switch.imports import legacy, money
from switch.imports.agents import AGENT_FIELDS, parse_agent, write_agents
from switch.imports.base import PRESENT, WRITTEN, Context, Entity

__all__ = ["ENTITIES", "PRESENT", "WRITTEN", "Context", "Entity"]

ENTITIES: dict[str, Entity] = {
    "agents": Entity(
        "agents",
        AGENT_FIELDS,
        ("legacy_ref", "region", "district", "gstin"),
        parse_agent,
        None,
        write_agents,
    ),
    "balances": Entity(
        "balances",
        ("agent", "amount"),
        (),
        money.parse_balance,
        lambda r: r[1],
        money.write_balances,
        True,
    ),
    "topups": Entity(
        "topups",
        ("bank_ref", "agent", "amount"),
        ("value_date",),
        money.parse_topup,
        lambda r: r[2],
        money.write_topups,
        True,
    ),
    "history": Entity(
        "history",
        ("legacy_ref", "biller", "account", "amount", "paid_at", "status"),
        ("agent", "biller_txn_id", "mobile"),
        legacy.parse_history,
        lambda r: r.amount_paise,
        legacy.write_history,
    ),
    "consumers": Entity(
        "consumers",
        ("biller", "account", "mobile"),
        ("name",),
        legacy.parse_consumer,
        None,
        legacy.write_consumers,
    ),
    "terminals": Entity(
        "terminals",
        ("legacy_ref", "agent"),
        (),
        legacy.parse_terminal,
        None,
        legacy.write_terminals,
    ),
    "complaints": Entity(
        "complaints",
        ("legacy_ref", "category", "description"),
        ("agent", "payment_ref"),
        legacy.parse_complaint,
        None,
        legacy.write_complaints,
    ),
}
