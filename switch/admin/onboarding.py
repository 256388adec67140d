"""Onboarding an agent, the steps the admin API and the CLI share: the application with
its KYC (pending_kyc), approval by a second person (four eyes: never whoever entered
it; the database checks it too), activation (the agent's login, sent by SMS). Each
step is one transaction with its audit entry. Refusals are ``ApiError`` with a code
and the fields concerned, which the API answers as they are and the CLI prints.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from switch.admin.auth import Auth, new_password
from switch.admin.errors import ApiError
from switch.admin.models import AgentIn
from switch.admin.users import create_user
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import AccountKind, Ledger
from switch.sms import render
from switch.sms.outbox import queue_sms

AGENT_SQL = """SELECT a.id, a.name, a.mobile, a.fps_id, a.state, a.region, a.district,
                      a.created_at, k.email, k.date_of_birth, k.pan, k.gstin, k.bank_account,
                      k.ifsc, k.residential_address, k.shop_address, k.submitted_by,
                      k.submitted_at, k.approved_by, k.approved_at, k.review_note,
                      k.reviewed_by, k.reviewed_at
                 FROM agents a LEFT JOIN agent_kyc k ON k.agent_id = a.id"""


async def agent_row(conn: Connection, agent_id: str, *, lock: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(
        AGENT_SQL + " WHERE a.id = $1" + (" FOR UPDATE OF a" if lock else ""), agent_id
    )
    if row is None:
        raise ApiError("not_found", f"no agent {agent_id}")
    return row


async def apply(db: Database, ledger: Ledger, actor: str, body: AgentIn) -> dict[str, Any]:
    """Enter an application: the agent pending KYC, its wallet opened."""
    agent_no = await db.fetchval("SELECT nextval('agent_no')")
    agent_id = f"AG{agent_no:06d}"
    wallet = await ledger.open_account(AccountKind.WALLET, f"wallet:{agent_id}", body.name)

    async def insert(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            taken = await conn.fetchrow(
                """SELECT (SELECT 1 FROM agent_kyc WHERE pan = $1) AS pan,
                          (SELECT 1 FROM agents WHERE fps_id = $2) AS fps_id""",
                body.pan,
                body.fps_id,
            )
            assert taken is not None
            fields = {k: f"an agent with this {k} exists" for k in ("pan", "fps_id") if taken[k]}
            if fields:
                raise ApiError("duplicate", "already registered", fields)
            try:
                await conn.execute(
                    """INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state,
                                           region, district)
                       VALUES ($1, $2, $3, $4, $5, 'pending_kyc', $6, $7)""",
                    agent_id,
                    body.name,
                    body.mobile,
                    body.fps_id,
                    wallet.id,
                    body.region,
                    body.district,
                )
                await conn.execute(
                    """INSERT INTO agent_kyc (agent_id, email, date_of_birth, pan, gstin,
                           bank_account, ifsc, residential_address, shop_address, submitted_by)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                    agent_id,
                    str(body.email),
                    body.date_of_birth,
                    body.pan,
                    body.gstin,
                    body.bank_account,
                    body.ifsc,
                    body.residential_address,
                    body.shop_address,
                    actor,
                )
            except asyncpg.UniqueViolationError as exc:  # a race with another application
                raise ApiError("duplicate", "already registered (PAN or FPS id)") from exc
            agent = json_ready(await agent_row(conn, agent_id))
            await audit(conn, actor, "agent.apply", "agent", agent_id, None, agent)
            return agent

    return await db.run(insert)


async def approve(db: Database, actor: str, agent_id: str) -> dict[str, Any]:
    """Approve the KYC (``four_eyes`` if ``actor`` entered the application)."""
    return await _decide(
        db,
        actor,
        agent_id,
        "approved",
        "agent.approve",
        "approve",
        "UPDATE agent_kyc SET approved_by = $2, approved_at = now() WHERE agent_id = $1",
    )


async def review(db: Database, actor: str, agent_id: str, to: str, note: str) -> dict[str, Any]:
    """Refuse an application waiting for review: ``rejected`` (final) or ``returned``
    (sent back to be corrected); not by whoever entered it, and with the reason."""
    assert to in ("rejected", "returned"), to
    return await _decide(
        db,
        actor,
        agent_id,
        to,
        "agent.reject" if to == "rejected" else "agent.send_back",
        "review",
        """UPDATE agent_kyc SET reviewed_by = $2, reviewed_at = now(), review_note = $3
            WHERE agent_id = $1""",
        note,
    )


async def _decide(
    db: Database,
    actor: str,
    agent_id: str,
    to: str,
    action: str,
    verb: str,
    kyc_sql: str,
    *kyc_args: Any,
) -> dict[str, Any]:
    """The reviewer's decision on an application waiting for review: under the
    agent's row lock, never by whoever entered it (four eyes), with its audit entry.
    ``kyc_sql`` records it on the KYC row ($1 the agent, $2 the actor, then
    ``kyc_args``)."""

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await agent_row(conn, agent_id, lock=True)
            expect(before, "pending_kyc")
            if before["submitted_by"] == actor:
                raise ApiError("four_eyes", f"a second person must {verb} what you entered")
            await conn.execute(kyc_sql, agent_id, actor, *kyc_args)
            await conn.execute("UPDATE agents SET state = $2 WHERE id = $1", agent_id, to)
            after = await agent_row(conn, agent_id)
            await audit(
                conn, actor, action, "agent", agent_id, json_ready(before), json_ready(after)
            )
            return json_ready(after)

    return await db.run(change)


async def correct(db: Database, actor: str, agent_id: str, body: AgentIn) -> dict[str, Any]:
    """A returned application, corrected: it waits for review again, with ``actor`` as
    its enterer (so someone else reviews it)."""

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await agent_row(conn, agent_id, lock=True)
            expect(before, "returned")
            taken = await conn.fetchrow(
                """SELECT (SELECT 1 FROM agent_kyc WHERE pan = $1 AND agent_id <> $3) AS pan,
                          (SELECT 1 FROM agents WHERE fps_id = $2 AND id <> $3) AS fps_id""",
                body.pan,
                body.fps_id,
                agent_id,
            )
            assert taken is not None
            fields = {k: f"an agent with this {k} exists" for k in ("pan", "fps_id") if taken[k]}
            if fields:
                raise ApiError("duplicate", "already registered", fields)
            await conn.execute(
                """UPDATE agents SET name = $2, mobile = $3, fps_id = $4, region = $5,
                          district = $6, state = 'pending_kyc' WHERE id = $1""",
                agent_id,
                body.name,
                body.mobile,
                body.fps_id,
                body.region,
                body.district,
            )
            await conn.execute(
                """UPDATE agent_kyc SET email = $2, date_of_birth = $3, pan = $4, gstin = $5,
                          bank_account = $6, ifsc = $7, residential_address = $8,
                          shop_address = $9, submitted_by = $10, submitted_at = now(),
                          review_note = NULL, reviewed_by = NULL, reviewed_at = NULL
                    WHERE agent_id = $1""",
                agent_id,
                str(body.email),
                body.date_of_birth,
                body.pan,
                body.gstin,
                body.bank_account,
                body.ifsc,
                body.residential_address,
                body.shop_address,
                actor,
            )
            after = await agent_row(conn, agent_id)
            await audit(
                conn,
                actor,
                "agent.correct",
                "agent",
                agent_id,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after)

    return await db.run(change)


async def activate(db: Database, auth: Auth, actor: str, agent_id: str) -> dict[str, Any]:
    """Activate an approved agent: its login is created and sent by SMS."""
    agent = await db.run(lambda c: agent_row(c, agent_id))
    expect(agent, "approved")
    password = new_password()
    username = agent_id.lower()
    await create_user(db, auth, actor, username, "agent", agent["mobile"], password, agent_id)

    async def change(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            before = await agent_row(conn, agent_id, lock=True)
            expect(before, "approved")
            welcome = render("agent_welcome", "en", name=before["name"], username=username)
            await conn.execute("UPDATE agents SET state = 'active' WHERE id = $1", agent_id)
            await queue_sms(conn, before["mobile"], welcome, secret=password)
            after = await agent_row(conn, agent_id)
            await audit(
                conn,
                actor,
                "agent.activate",
                "agent",
                agent_id,
                json_ready(before),
                json_ready(after),
            )
            return json_ready(after) | {"login": username}

    return await db.run(change)


def expect(agent: asyncpg.Record, *states: str) -> None:
    if agent["state"] not in states:
        raise ApiError(
            "invalid_state", f"agent {agent['id']} is {agent['state']}, not {' or '.join(states)}"
        )
