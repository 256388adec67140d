"""Agents' money: opening balances (through the migration suspense account) and
top-ups from a bank statement (switch/imports/entities.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from switch.db import Connection
from switch.imports import fields as f
from switch.imports.base import PRESENT, WRITTEN, Context, Outcome, get, wallets
from switch.imports.mapping import Mapping
from switch.ledger import store as ledger_store
from switch.pays import topups as topup_rules

BANK_REF_RE = re.compile(r"[A-Za-z0-9/_-]{4,40}")  # as a top-up's by hand


def parse_balance(row: dict[str, str], m: Mapping) -> tuple[str, int]:
    agent = f.text(m.column("agent"), get(row, m, "agent"), max_len=40)
    return agent, f.paise(m.column("amount"), get(row, m, "amount"), m.amounts, allow_zero=True)


async def write_balances(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, int]]], ctx: Context
) -> list[Outcome]:
    """Each agent's opening balance, once: ``opening:<agent>`` in the ledger."""
    agents = await wallets(conn, [agent for _, (agent, _) in rows])
    keys = [f"opening:{agents[a]['id']}" for _, (a, _) in rows if a in agents]
    earlier = {
        r["idem_key"]: (r["credit_account_id"], r["amount_paise"])
        for r in await conn.fetch(
            """SELECT k.idem_key, t.credit_account_id, t.amount_paise FROM transfer_keys k
                 JOIN transfers t ON t.id = k.transfer_id WHERE k.idem_key = ANY($1)""",
            keys,
        )
    }
    outcomes: list[Outcome] = []
    transfers: list[tuple[str, int, int, int]] = []
    for _, (ref, amount) in rows:
        agent = agents.get(ref)
        if agent is None or agent["kind"] != "agent":
            outcomes.append("agent: no such agent")
            continue
        if agent["state"] in ("rejected", "closed"):
            outcomes.append(f"agent: {agent['state']}")
            continue
        key = f"opening:{agent['id']}"
        if key in earlier:
            same = earlier[key] == (agent["wallet_account_id"], amount)
            outcomes.append(PRESENT if same else "amount: another opening balance was imported")
            continue
        earlier[key] = (agent["wallet_account_id"], amount)
        if amount:
            transfers.append((key, ctx.migration_account_id, agent["wallet_account_id"], amount))
        outcomes.append(WRITTEN)
    codes = await ledger_store.apply_in_transaction(conn, transfers)
    if any(c not in (0, 1) for c in codes):
        raise RuntimeError(f"the ledger refused an opening balance: codes {codes}")
    return outcomes


def parse_topup(row: dict[str, str], m: Mapping) -> tuple[str, str, int]:
    bank_ref = f.text(m.column("bank_ref"), get(row, m, "bank_ref"), max_len=40)
    if not BANK_REF_RE.fullmatch(bank_ref):
        raise f.FieldError(m.column("bank_ref"), "4-40 letters, digits or / _ -")
    agent = f.text(m.column("agent"), get(row, m, "agent"), max_len=40)
    value_date = get(row, m, "value_date")
    if value_date:
        f.date(m.column("value_date"), value_date, m.date_format)
    return bank_ref, agent, f.paise(m.column("amount"), get(row, m, "amount"), m.amounts)


async def write_topups(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, str, int]]], ctx: Context
) -> list[Outcome]:
    """Each statement line a top-up by the rules of one (its bank reference once, the
    wallet's ceiling), each in a savepoint so a refused line leaves the rest."""
    agents = await wallets(conn, [agent for _, (_, agent, _) in rows])
    ceilings = {
        r["agent_id"]: r["max_balance_paise"]
        for r in await conn.fetch(
            "SELECT agent_id, max_balance_paise FROM wallet_limits WHERE agent_id = ANY($1)",
            [a["id"] for a in agents.values()],
        )
    }
    outcomes: list[Outcome] = []
    for _, (bank_ref, ref, amount) in rows:
        agent = agents.get(ref)
        if agent is None or agent["kind"] != "agent":
            outcomes.append("agent: no such agent")
            continue
        if agent["state"] != "active":
            outcomes.append(f"agent: {agent['state']}, not active: no top-up")
            continue
        try:
            done = await topup_rules.top_up(
                conn,
                agent_id=agent["id"],
                wallet_account_id=agent["wallet_account_id"],
                amount_paise=amount,
                bank_ref=bank_ref,
                ceiling_paise=ceilings.get(agent["id"], ctx.default_ceiling_paise),
                actor=f"{ctx.actor} ({ctx.basis})",
            )
            outcomes.append(PRESENT if done.replayed else WRITTEN)
        except topup_rules.DuplicateReference:
            outcomes.append("bank_ref: used before with another amount or agent")
        except topup_rules.OverCeiling as exc:
            outcomes.append(f"amount: over the wallet's ceiling ({exc.room_paise} paise of room)")
    return outcomes
