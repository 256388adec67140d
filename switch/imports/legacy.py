"""What the old system held beyond agents and money: payment history, consumer
accounts, open complaints and terminals (switch/imports/entities.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.admin.models import ComplaintIn
from switch.db import Connection
from switch.imports import fields as f
from switch.imports.base import PRESENT, WRITTEN, Context, Outcome, get, wallets
from switch.imports.mapping import Mapping
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials

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
        return f.text(m.column(name), get(row, m, name), required=False, max_len=max_len) or None

    mobile = opt("mobile", 10)
    if mobile and not (mobile.isdigit() and len(mobile) == 10 and mobile[0] in "6789"):
        raise f.FieldError(m.column("mobile"), "a 10-digit mobile starting 6-9")
    return LegacyPay(
        f.text(m.column("legacy_ref"), get(row, m, "legacy_ref"), max_len=40),
        f.text(m.column("biller"), get(row, m, "biller"), max_len=20).upper(),
        f.text(m.column("account"), get(row, m, "account"), max_len=32),
        f.paise(m.column("amount"), get(row, m, "amount"), m.amounts),
        f.moment(m.column("paid_at"), get(row, m, "paid_at"), m.date_format),
        f.choice(m.column("status"), get(row, m, "status"), ("posted", "failed")),
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
    mobile = f.text(m.column("mobile"), get(row, m, "mobile"), max_len=10)
    if not (mobile.isdigit() and len(mobile) == 10 and mobile[0] in "6789"):
        raise f.FieldError(m.column("mobile"), "a 10-digit mobile starting 6-9")
    return (
        f.text(m.column("biller"), get(row, m, "biller"), max_len=20).upper(),
        f.text(m.column("account"), get(row, m, "account"), max_len=32),
        mobile,
        f.text(m.column("name"), get(row, m, "name"), required=False, max_len=100) or None,
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


# The back office's own categories (a complaint by hand takes the same).
COMPLAINT_CATEGORIES: tuple[str, ...] = get_args(ComplaintIn.model_fields["category"].annotation)


@dataclass(frozen=True)
class LegacyComplaint:
    legacy_ref: str
    category: str
    description: str
    agent: str | None
    payment_ref: str | None


def parse_complaint(row: dict[str, str], m: Mapping) -> LegacyComplaint:
    def opt(name: str) -> str | None:
        return f.text(m.column(name), get(row, m, name), required=False, max_len=40) or None

    return LegacyComplaint(
        f.text(m.column("legacy_ref"), get(row, m, "legacy_ref"), max_len=40),
        f.choice(m.column("category"), get(row, m, "category"), COMPLAINT_CATEGORIES),
        f.text(m.column("description"), get(row, m, "description"), max_len=1900),
        opt("agent"),
        opt("payment_ref"),
    )


async def write_complaints(
    conn: Connection, rows: Sequence[tuple[int, LegacyComplaint]], ctx: Context
) -> list[Outcome]:
    """Open complaints of the old system, ``logged`` here with their own turnaround
    from now; one about an old payment names it (the payment is in ``legacy_pays``)."""
    agents = await wallets(conn, [c.agent for _, c in rows if c.agent])
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


# -- terminals ------------------------------------------------------------------------

LEGACY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


def parse_terminal(row: dict[str, str], m: Mapping) -> tuple[str, str]:
    legacy = f.text(m.column("legacy_ref"), get(row, m, "legacy_ref"), max_len=40)
    if not LEGACY_ID_RE.fullmatch(legacy):
        raise f.FieldError(m.column("legacy_ref"), "1-40 letters, digits, _ or -")
    return legacy, f.text(m.column("agent"), get(row, m, "agent"), max_len=40)


async def write_terminals(
    conn: Connection, rows: Sequence[tuple[int, tuple[str, str]]], ctx: Context
) -> list[Outcome]:
    """Each legacy terminal a terminal of its agent, with a new key pair: the public
    key kept, the private one only in ``<legacy id>.json`` in the credentials folder
    (written before the chunk commits; a chunk done again writes its files again)."""
    if ctx.credentials_dir is None:
        raise RuntimeError("terminals are imported by the CLI, which writes their credentials")
    agents = await wallets(conn, [agent for _, (_, agent) in rows])
    known = {
        r["legacy_ref"]
        for r in await conn.fetch(
            "SELECT legacy_ref FROM terminals WHERE legacy_ref = ANY($1)",
            [legacy for _, (legacy, _) in rows],
        )
    }
    outcomes: list[Outcome] = []
    for _, (legacy, ref) in rows:
        agent = agents.get(ref)
        if agent is None or agent["kind"] != "agent":
            outcomes.append("agent: no such agent")
        elif agent["state"] not in ("approved", "active"):
            outcomes.append(f"agent: {agent['state']}")
        elif legacy in known:
            outcomes.append(PRESENT)
        else:
            known.add(legacy)
            await _new_terminal(conn, legacy, agent["id"], ctx)
            outcomes.append(WRITTEN)
    return outcomes


async def _new_terminal(conn: Connection, legacy: str, agent_id: str, ctx: Context) -> None:
    assert ctx.credentials_dir is not None
    key = Ed25519PrivateKey.generate()
    terminal_id = await conn.fetchval(
        """INSERT INTO terminals (id, agent_id, public_key, legacy_ref)
           VALUES ('T' || lpad(nextval('terminal_no')::text, 8, '0'), $1, $2, $3)
           RETURNING id""",
        agent_id,
        public_bytes(key),
        legacy,
    )
    creds = Credentials.issue(
        terminal_id, agent_id, key, ctx.switch_public_key, ctx.terminal_address
    )
    # On the database's (asyncio) side, in the chunk's transaction: a small local write.
    creds.write(ctx.credentials_dir / f"{legacy}.json")
