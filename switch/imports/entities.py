"""What each kind of file holds, how a row is checked, and how a chunk of rows is
written. A row is checked twice by the same pure ``parse`` (once to count and report,
once to write), so both passes agree on which rows are good. ``write`` runs inside the
chunk's transaction and answers, row by row, what happened: written, already present
(in the switch, or earlier in this file), or rejected with a reason.

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
- **complaints** (legacy_ref, category, description; optional agent, payment_ref): a
  complaint still open in the old system, ``logged`` here with its turnaround from now.

``agent`` is the switch's agent id (``AG000123``) or the agent's legacy reference.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from switch.admin.errors import field_errors
from switch.admin.models import AgentIn
from switch.db import Connection
from switch.imports import fields as f
from switch.imports.mapping import Mapping
from switch.ledger import store as ledger_store
from switch.pays import topups as topup_rules

WRITTEN, PRESENT = "written", "present"
BANK_REF_RE = re.compile(r"[A-Za-z0-9/_-]{4,40}")  # as a top-up's by hand


@dataclass(frozen=True)
class Context:
    """What a chunk's writing needs to know of its run."""

    run_id: int
    actor: str
    approved: bool  # agents: imported as approved (a migration), else pending_kyc
    migration_account_id: int
    default_ceiling_paise: int  # a wallet without limits of its own ([admin])
    billers: frozenset[str] = frozenset()  # this switch's billers (consumers must name one)
    complaint_tat_s: float = 48 * 3600.0  # an imported complaint's answer is due after this

    @property
    def basis(self) -> str:
        return f"import:{self.run_id}"


Outcome = str  # WRITTEN, PRESENT, or a rejection's reason ("column: why")
Writer = Callable[[Connection, Sequence[tuple[int, Any]], Context], Awaitable[list[Outcome]]]


@dataclass(frozen=True)
class Entity:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[dict[str, str], Mapping], Any]  # raises FieldError
    amount: Callable[[Any], int] | None  # the row's money, for the control total
    write: Writer
    money: bool = False  # the import is refused without declared control totals

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


def _get(row: dict[str, str], m: Mapping, name: str) -> str:
    return row.get(m.column(name), "")


# -- agents --------------------------------------------------------------------------

AGENT_FIELDS = (
    "name",
    "email",
    "mobile",
    "date_of_birth",
    "pan",
    "fps_id",
    "residential_address",
    "shop_address",
    "bank_account",
    "ifsc",
)


def parse_agent(row: dict[str, str], m: Mapping) -> tuple[str | None, AgentIn]:
    values: dict[str, Any] = {}
    for name in (*AGENT_FIELDS, "region", "district", "gstin"):
        value = _get(row, m, name).strip()
        if value:
            values[name] = value
    if "date_of_birth" in values:
        values["date_of_birth"] = f.date(
            m.column("date_of_birth"), values["date_of_birth"], m.date_format
        )
    for name in ("pan", "ifsc", "gstin"):
        if name in values:
            values[name] = values[name].upper()
    try:
        agent = AgentIn.model_validate(values)
    except ValidationError as exc:
        name, why = next(iter(field_errors(exc.errors()).items()))
        raise f.FieldError(m.column(name), why) from None
    legacy = f.text(m.column("legacy_ref"), _get(row, m, "legacy_ref"), required=False, max_len=40)
    return legacy or None, agent


async def write_agents(
    conn: Connection, rows: Sequence[tuple[int, tuple[str | None, AgentIn]]], ctx: Context
) -> list[Outcome]:
    """Agents not yet in the switch, each with its KYC and an empty wallet, in three
    statements for the chunk. A row whose PAN, FPS id and legacy reference all name
    one agent already here is that agent (present); a row that shares one of them with
    another agent is rejected, never merged."""
    taken = await conn.fetch(
        """SELECT a.id, a.legacy_ref, k.pan, a.fps_id FROM agents a
             LEFT JOIN agent_kyc k ON k.agent_id = a.id
            WHERE a.id IN (SELECT id FROM agents WHERE legacy_ref = ANY($1)
                           UNION SELECT agent_id FROM agent_kyc WHERE pan = ANY($2)
                           UNION SELECT id FROM agents WHERE fps_id = ANY($3))""",
        [r[0] for _, r in rows if r[0]],
        [r[1].pan for _, r in rows],
        [r[1].fps_id for _, r in rows],
    )
    owners: dict[tuple[str, str], str] = {}
    for t in taken:
        owners |= {("pan", t["pan"]): t["id"], ("fps_id", t["fps_id"]): t["id"]}
        if t["legacy_ref"]:
            owners[("legacy_ref", t["legacy_ref"])] = t["id"]
    outcomes: list[Outcome] = []
    new: list[tuple[str | None, AgentIn]] = []
    for line, (ref, agent) in rows:
        keys = [("pan", agent.pan), ("fps_id", agent.fps_id)] + (
            [("legacy_ref", ref)] if ref else []
        )
        found = {owners.get(k) for k in keys}
        if found == {None}:
            owners |= {k: f"line {line}" for k in keys}  # a second row for it in this chunk
            new.append((ref, agent))
            outcomes.append(WRITTEN)
        elif len(found) == 1:
            outcomes.append(PRESENT)
        else:
            clash = next(k for k in keys if owners.get(k) is not None)
            outcomes.append(f"{clash[0]}: registered to another agent ({owners[clash]})")
    if new:
        await _insert_agents(conn, new, ctx)
    return outcomes


async def _insert_agents(
    conn: Connection, new: list[tuple[str | None, AgentIn]], ctx: Context
) -> None:
    ids = await conn.fetch(
        "SELECT 'AG' || lpad(nextval('agent_no')::text, 6, '0') AS id FROM generate_series(1, $1)",
        len(new),
    )
    agent_ids = [r["id"] for r in ids]
    a = [agent for _, agent in new]
    await conn.execute(
        """WITH w AS (
               INSERT INTO accounts (kind, code, name, may_go_negative)
               SELECT 'wallet', 'wallet:' || i.id, i.name, false
                 FROM unnest($1::text[], $2::text[]) AS i(id, name)
               RETURNING id AS account_id, substr(code, 8) AS agent_id)
           INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state, region,
                               district, legacy_ref)
           SELECT i.id, i.name, i.mobile, i.fps_id, w.account_id, $8, i.region, i.district,
                  i.legacy_ref
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[]) AS i(id, name, mobile, fps_id, region,
                                                      district, legacy_ref)
             JOIN w ON w.agent_id = i.id""",
        agent_ids,
        [x.name for x in a],
        [x.mobile for x in a],
        [x.fps_id for x in a],
        [x.region for x in a],
        [x.district for x in a],
        [ref for ref, _ in new],
        "approved" if ctx.approved else "pending_kyc",
    )
    await conn.execute(
        """INSERT INTO agent_kyc (agent_id, email, date_of_birth, pan, gstin, bank_account,
               ifsc, residential_address, shop_address, submitted_by, approved_by, approved_at)
           SELECT i.*, $10, $11, CASE WHEN $11::text IS NULL THEN NULL ELSE now() END
             FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[]) AS i""",
        agent_ids,
        [str(x.email) for x in a],
        [x.date_of_birth for x in a],
        [x.pan for x in a],
        [x.gstin for x in a],
        [x.bank_account for x in a],
        [x.ifsc for x in a],
        [x.residential_address for x in a],
        [x.shop_address for x in a],
        ctx.basis,
        f"legacy approval (import {ctx.run_id} by {ctx.actor})" if ctx.approved else None,
    )


# -- agents' money: opening balances and top-ups ---------------------------------------


def parse_balance(row: dict[str, str], m: Mapping) -> tuple[str, int]:
    agent = f.text(m.column("agent"), _get(row, m, "agent"), max_len=40)
    return agent, f.paise(m.column("amount"), _get(row, m, "amount"), m.amounts, allow_zero=True)


async def _wallets(conn: Connection, refs: list[str]) -> dict[str, Any]:
    """Agents by id or legacy reference: their id, wallet and state."""
    found = await conn.fetch(
        """SELECT id, legacy_ref, wallet_account_id, state, kind FROM agents
            WHERE id = ANY($1) OR legacy_ref = ANY($1)""",
        refs,
    )
    by_ref = {r["id"]: r for r in found}
    by_ref |= {r["legacy_ref"]: r for r in found if r["legacy_ref"]}
    return by_ref


async def write_balances(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, int]]], ctx: Context
) -> list[Outcome]:
    """Each agent's opening balance, once: ``opening:<agent>`` in the ledger."""
    agents = await _wallets(conn, [agent for _, (agent, _) in rows])
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
    bank_ref = f.text(m.column("bank_ref"), _get(row, m, "bank_ref"), max_len=40)
    if not BANK_REF_RE.fullmatch(bank_ref):
        raise f.FieldError(m.column("bank_ref"), "4-40 letters, digits or / _ -")
    agent = f.text(m.column("agent"), _get(row, m, "agent"), max_len=40)
    value_date = _get(row, m, "value_date")
    if value_date:
        f.date(m.column("value_date"), value_date, m.date_format)
    return bank_ref, agent, f.paise(m.column("amount"), _get(row, m, "amount"), m.amounts)


async def write_topups(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, str, int]]], ctx: Context
) -> list[Outcome]:
    """Each statement line a top-up by the rules of one (its bank reference once, the
    wallet's ceiling), each in a savepoint so a refused line leaves the rest."""
    agents = await _wallets(conn, [agent for _, (_, agent, _) in rows])
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


# -- payment history -------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyPay:
    legacy_ref: str
    biller: str
    account: str
    amount_paise: int
    paid_at: dt.datetime
    status: str
    agent: str | None
    biller_txn_id: str | None
    mobile: str | None


def parse_history(row: dict[str, str], m: Mapping) -> LegacyPay:
    def opt(name: str, max_len: int = 40) -> str | None:
        return f.text(m.column(name), _get(row, m, name), required=False, max_len=max_len) or None

    mobile = opt("mobile", 10)
    if mobile and not (mobile.isdigit() and len(mobile) == 10 and mobile[0] in "6789"):
        raise f.FieldError(m.column("mobile"), "a 10-digit mobile starting 6-9")
    return LegacyPay(
        f.text(m.column("legacy_ref"), _get(row, m, "legacy_ref"), max_len=40),
        f.text(m.column("biller"), _get(row, m, "biller"), max_len=20).upper(),
        f.text(m.column("account"), _get(row, m, "account"), max_len=32),
        f.paise(m.column("amount"), _get(row, m, "amount"), m.amounts),
        f.moment(m.column("paid_at"), _get(row, m, "paid_at"), m.date_format),
        f.choice(m.column("status"), _get(row, m, "status"), ("posted", "failed")),
        opt("agent"),
        opt("biller_txn_id"),
        mobile,
    )


async def write_history(
    conn: Connection, rows: Sequence[tuple[int, LegacyPay]], ctx: Context
) -> list[Outcome]:
    p = [pay for _, pay in rows]
    inserted = await conn.fetch(
        """INSERT INTO legacy_pays (legacy_ref, biller_id, consumer_account, amount_paise,
               paid_at, status, agent_legacy_ref, biller_txn_id, mobile, run_id)
           SELECT *, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                                     $5::timestamptz[], $6::text[], $7::text[], $8::text[],
                                     $9::text[])
           ON CONFLICT (legacy_ref) DO NOTHING
           RETURNING legacy_ref""",
        [x.legacy_ref for x in p],
        [x.biller for x in p],
        [x.account for x in p],
        [x.amount_paise for x in p],
        [x.paid_at for x in p],
        [x.status for x in p],
        [x.agent for x in p],
        [x.biller_txn_id for x in p],
        [x.mobile for x in p],
        ctx.run_id,
    )
    fresh = {r["legacy_ref"] for r in inserted}
    outcomes: list[Outcome] = []
    for pay in p:
        outcomes.append(WRITTEN if pay.legacy_ref in fresh else PRESENT)
        fresh.discard(pay.legacy_ref)  # the same reference again in this chunk: present
    return outcomes


# -- consumer accounts and open complaints ----------------------------------------------


def parse_consumer(row: dict[str, str], m: Mapping) -> tuple[str, str, str, str | None]:
    mobile = f.text(m.column("mobile"), _get(row, m, "mobile"), max_len=10)
    if not (mobile.isdigit() and len(mobile) == 10 and mobile[0] in "6789"):
        raise f.FieldError(m.column("mobile"), "a 10-digit mobile starting 6-9")
    return (
        f.text(m.column("biller"), _get(row, m, "biller"), max_len=20).upper(),
        f.text(m.column("account"), _get(row, m, "account"), max_len=32),
        mobile,
        f.text(m.column("name"), _get(row, m, "name"), required=False, max_len=100) or None,
    )


async def write_consumers(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, str, str, str | None]]], ctx: Context
) -> list[Outcome]:
    good = [(line, r) for line, r in rows if r[0] in ctx.billers]
    inserted = await conn.fetch(
        """INSERT INTO consumer_accounts (biller_id, consumer_account, mobile, name, run_id)
           SELECT *, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT DO NOTHING RETURNING biller_id, consumer_account, mobile""",
        [r[0] for _, r in good],
        [r[1] for _, r in good],
        [r[2] for _, r in good],
        [r[3] for _, r in good],
        ctx.run_id,
    )
    fresh = {(x["biller_id"], x["consumer_account"], x["mobile"]) for x in inserted}
    outcomes: list[Outcome] = []
    for _, r in rows:
        key = (r[0], r[1], r[2])
        if r[0] not in ctx.billers:
            outcomes.append("biller: not a biller of this switch")
        elif key in fresh:
            outcomes.append(WRITTEN)
            fresh.discard(key)
        else:
            outcomes.append(PRESENT)
    return outcomes


COMPLAINT_CATEGORIES = (
    "not_credited",
    "double_debit",
    "wrong_amount",
    "receipt_missing",
    "refund_pending",
    "terminal_fault",
    "wallet",
    "conduct",
    "other",
)


@dataclass(frozen=True)
class LegacyComplaint:
    legacy_ref: str
    category: str
    description: str
    agent: str | None
    payment_ref: str | None


def parse_complaint(row: dict[str, str], m: Mapping) -> LegacyComplaint:
    def opt(name: str) -> str | None:
        return f.text(m.column(name), _get(row, m, name), required=False, max_len=40) or None

    return LegacyComplaint(
        f.text(m.column("legacy_ref"), _get(row, m, "legacy_ref"), max_len=40),
        f.choice(m.column("category"), _get(row, m, "category"), COMPLAINT_CATEGORIES),
        f.text(m.column("description"), _get(row, m, "description"), max_len=1900),
        opt("agent"),
        opt("payment_ref"),
    )


async def write_complaints(
    conn: Connection, rows: Sequence[tuple[int, LegacyComplaint]], ctx: Context
) -> list[Outcome]:
    """Open complaints of the old system, ``logged`` here with their own turnaround
    from now; one about an old payment names it (the payment is in ``legacy_pays``)."""
    agents = await _wallets(conn, [c.agent for _, c in rows if c.agent])
    known = {
        r["legacy_ref"]
        for r in await conn.fetch(
            "SELECT legacy_ref FROM complaints WHERE legacy_ref = ANY($1)",
            [c.legacy_ref for _, c in rows],
        )
    }
    outcomes: list[Outcome] = []
    for _, c in rows:
        agent = agents.get(c.agent) if c.agent else None
        if c.agent and agent is None:
            outcomes.append("agent: no such agent")
            continue
        if c.legacy_ref in known:
            outcomes.append(PRESENT)
            continue
        known.add(c.legacy_ref)
        about = f"[old system: complaint {c.legacy_ref}"
        about += f", payment {c.payment_ref}] " if c.payment_ref else "] "
        complaint_id = await conn.fetchval(
            """INSERT INTO complaints (kind, category, agent_id, description, raised_by, due_at,
                                      legacy_ref)
               VALUES ('service', $1, $2, $3, $4, now() + make_interval(secs => $5), $6)
               RETURNING id""",
            c.category,
            agent["id"] if agent else None,
            (about + c.description)[:2000],
            ctx.basis,
            ctx.complaint_tat_s,
            c.legacy_ref,
        )
        await conn.execute(
            """INSERT INTO complaint_events (complaint_id, actor, action, to_state, note)
               VALUES ($1, $2, 'log', 'logged', 'imported')""",
            complaint_id,
            ctx.basis,
        )
        outcomes.append(WRITTEN)
    return outcomes


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
        "balances", ("agent", "amount"), (), parse_balance, lambda r: r[1], write_balances, True
    ),
    "topups": Entity(
        "topups",
        ("bank_ref", "agent", "amount"),
        ("value_date",),
        parse_topup,
        lambda r: r[2],
        write_topups,
        True,
    ),
    "history": Entity(
        "history",
        ("legacy_ref", "biller", "account", "amount", "paid_at", "status"),
        ("agent", "biller_txn_id", "mobile"),
        parse_history,
        lambda r: r.amount_paise,
        write_history,
    ),
    "consumers": Entity(
        "consumers",
        ("biller", "account", "mobile"),
        ("name",),
        parse_consumer,
        None,
        write_consumers,
    ),
    "complaints": Entity(
        "complaints",
        ("legacy_ref", "category", "description"),
        ("agent", "payment_ref"),
        parse_complaint,
        None,
        write_complaints,
    ),
}
