"""Agents and terminals in the database.

Provisioning is rare and interactive, so these are plain one-round-trip queries. An
agent's wallet is a ledger account opened with the agent (``wallet:<agent id>``).
A terminal's private key is generated here, written only to its credentials file,
and never stored: the database keeps the public key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import AccountKind, Ledger
from switch.protocols.terminal.crypto import public_bytes

MOBILE_RE = re.compile(r"[6-9][0-9]{9}")
FPS_RE = re.compile(r"[A-Za-z0-9/_-]{1,32}")


class ProvisioningError(Exception):
    """A provisioning request was refused; the message says which field and why."""


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    mobile: str
    fps_id: str | None  # None for a partner (a bank or aggregator has no shop)
    wallet_account_id: int
    state: str
    region: str = ""
    district: str = ""
    kind: str = "agent"  # or "partner" (switch/partners/)


@dataclass(frozen=True)
class Terminal:
    id: str
    agent_id: str
    public_key: bytes
    state: str


@dataclass(frozen=True)
class TerminalAccess:
    """What a session needs to know about its terminal once it has connected."""

    terminal_id: str
    public_key: bytes
    terminal_state: str
    agent_id: str
    agent_state: str
    wallet_account_id: int


async def add_agent(
    db: Database,
    ledger: Ledger,
    name: str,
    mobile: str,
    fps_id: str,
    *,
    region: str = "",
    district: str = "",
    actor: str | None = None,
) -> Agent:
    """Add an active agent with an open wallet; with ``actor``, audited (the agent
    row and its audit entry in one transaction)."""
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise ProvisioningError("name: must be 1-100 characters")
    if not MOBILE_RE.fullmatch(mobile):
        raise ProvisioningError("mobile: must be a 10-digit Indian mobile number (6-9 first)")
    if not FPS_RE.fullmatch(fps_id):
        raise ProvisioningError("fps_id: must be 1-32 of A-Z a-z 0-9 / _ -")
    if len(region) > 60 or len(district) > 60:
        raise ProvisioningError("region, district: at most 60 characters each")
    if await db.fetchval("SELECT 1 FROM agents WHERE fps_id = $1", fps_id):
        raise ProvisioningError(f"fps_id: an agent with FPS id {fps_id} already exists")
    agent_no = await db.fetchval("SELECT nextval('agent_no')")
    agent_id = f"AG{agent_no:06d}"
    wallet = await ledger.open_account(AccountKind.WALLET, f"wallet:{agent_id}", name)
    sql = """INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, region, district)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *"""
    args = (agent_id, name, mobile, fps_id, wallet.id, region.strip(), district.strip())
    try:
        row = await _write(db, actor, "agent.add", "agent", agent_id, sql, *args)
    except asyncpg.UniqueViolationError as exc:
        raise ProvisioningError(f"fps_id: an agent with FPS id {fps_id} already exists") from exc
    assert row is not None
    return _agent(row)


async def _write(
    db: Database, actor: str | None, action: str, kind: str, ident: str, sql: str, *args: Any
) -> asyncpg.Record | None:
    """One write returning its row; with ``actor``, its audit entry in the same
    transaction (never a change without its entry, nor an entry without its change)."""
    if actor is None:
        return await db.fetchrow(sql, *args)

    async def run(conn: Connection) -> asyncpg.Record | None:
        async with conn.transaction():
            row = await conn.fetchrow(sql, *args)
            if row is not None:
                await audit(conn, actor, action, kind, ident, None, json_ready(row))
            return row

    return await db.run(run)


async def get_agent(db: Database, agent_id: str) -> Agent:
    row = await db.fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
    if row is None:
        raise ProvisioningError(f"no agent {agent_id}")
    return _agent(row)


async def set_agent_state(
    db: Database, agent_id: str, state: str, actor: str | None = None
) -> Agent:
    sql = "UPDATE agents SET state = $2 WHERE id = $1 RETURNING *"
    row = await _write(db, actor, f"agent.{_verb(state)}", "agent", agent_id, sql, agent_id, state)
    if row is None:
        raise ProvisioningError(f"no agent {agent_id}")
    return _agent(row)


async def add_terminal(
    db: Database, agent_id: str, actor: str | None = None
) -> tuple[Terminal, Ed25519PrivateKey]:
    agent = await get_agent(db, agent_id)
    if agent.kind != "agent":
        raise ProvisioningError(f"{agent_id} is a partner: it pays through the partner API")
    if agent.state != "active":
        raise ProvisioningError(f"agent {agent_id} is {agent.state}")
    key = Ed25519PrivateKey.generate()
    terminal_no = await db.fetchval("SELECT nextval('terminal_no')")
    terminal_id = f"T{terminal_no:08d}"
    sql = "INSERT INTO terminals (id, agent_id, public_key) VALUES ($1, $2, $3) RETURNING *"
    args = (terminal_id, agent_id, public_bytes(key))
    row = await _write(db, actor, "terminal.add", "terminal", terminal_id, sql, *args)
    assert row is not None
    return _terminal(row), key


async def set_terminal_state(
    db: Database, terminal_id: str, state: str, actor: str | None = None
) -> Terminal:
    sql = "UPDATE terminals SET state = $2 WHERE id = $1 RETURNING *"
    action = f"terminal.{_verb(state)}"
    row = await _write(db, actor, action, "terminal", terminal_id, sql, terminal_id, state)
    if row is None:
        raise ProvisioningError(f"no terminal {terminal_id}")
    return _terminal(row)


async def rotate_key(db: Database, terminal_id: str) -> tuple[Terminal, Ed25519PrivateKey]:
    """A new key pair for the terminal; the old key stops working at once."""
    key = Ed25519PrivateKey.generate()
    row = await db.fetchrow(
        "UPDATE terminals SET public_key = $2 WHERE id = $1 RETURNING *",
        terminal_id,
        public_bytes(key),
    )
    if row is None:
        raise ProvisioningError(f"no terminal {terminal_id}")
    return _terminal(row), key


async def terminal_access(db: Database, terminal_id: str) -> TerminalAccess | None:
    row = await db.fetchrow(
        """SELECT t.id, t.public_key, t.state AS terminal_state, a.id AS agent_id,
                  a.state AS agent_state, a.wallet_account_id
             FROM terminals t JOIN agents a ON a.id = t.agent_id WHERE t.id = $1""",
        terminal_id,
    )
    if row is None:
        return None
    return TerminalAccess(
        row["id"],
        bytes(row["public_key"]),
        row["terminal_state"],
        row["agent_id"],
        row["agent_state"],
        row["wallet_account_id"],
    )


def _verb(state: str) -> str:
    return {"active": "unblock", "blocked": "block"}.get(state, state)


def _agent(row: asyncpg.Record) -> Agent:
    return Agent(
        row["id"],
        row["name"],
        row["mobile"],
        row["fps_id"],
        row["wallet_account_id"],
        row["state"],
        row["region"],
        row["district"],
        row["kind"],
    )


def _terminal(row: asyncpg.Record) -> Terminal:
    return Terminal(row["id"], row["agent_id"], bytes(row["public_key"]), row["state"])
