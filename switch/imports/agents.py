"""Agents with their KYC, as onboarding checks them (switch/imports/entities.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from switch.admin.field_errors import field_errors
from switch.admin.models import AgentIn
from switch.db import Connection
from switch.imports import fields as f
from switch.imports.base import PRESENT, WRITTEN, Context, Outcome, get
from switch.imports.mapping import Mapping

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
        value = get(row, m, name).strip()
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
    legacy = f.text(m.column("legacy_ref"), get(row, m, "legacy_ref"), required=False, max_len=40)
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
    """The chunk's agents: their wallets (whose ids the database gives), then the
    agents and their KYC by binary COPY (the same constraints, indexes and triggers as
    an INSERT, without encoding a 5,000-element array per column)."""
    ids = await conn.fetch(
        "SELECT 'AG' || lpad(nextval('agent_no')::text, 6, '0') AS id, now() AS at"
        " FROM generate_series(1, $1)",
        len(new),
    )
    agent_ids = [r["id"] for r in ids]
    at = ids[0]["at"]
    wallets = await conn.fetch(
        """INSERT INTO accounts (kind, code, name, may_go_negative)
           SELECT 'wallet', 'wallet:' || i.id, i.name, false
             FROM unnest($1::text[], $2::text[]) AS i(id, name)
           RETURNING id, substr(code, 8) AS agent_id""",
        agent_ids,
        [agent.name for _, agent in new],
    )
    wallet_of = {w["agent_id"]: w["id"] for w in wallets}
    state = "approved" if ctx.approved else "pending_kyc"
    await conn.copy_records_to_table(
        "agents",
        columns=AGENT_COLUMNS,
        records=[
            (i, a.name, a.mobile, a.fps_id, wallet_of[i], state, a.region, a.district, ref)
            for i, (ref, a) in zip(agent_ids, new, strict=True)
        ],
    )
    approved_by = f"legacy approval (import {ctx.run_id} by {ctx.actor})" if ctx.approved else None
    approved_at = at if ctx.approved else None
    await conn.copy_records_to_table(
        "agent_kyc",
        columns=KYC_COLUMNS,
        records=[
            (
                i,
                str(a.email),
                a.date_of_birth,
                a.pan,
                a.gstin,
                a.bank_account,
                a.ifsc,
                a.residential_address,
                a.shop_address,
                ctx.basis,
                at,
                approved_by,
                approved_at,
            )
            for i, (_, a) in zip(agent_ids, new, strict=True)
        ],
    )


AGENT_COLUMNS = (
    "id",
    "name",
    "mobile",
    "fps_id",
    "wallet_account_id",
    "state",
    "region",
    "district",
    "legacy_ref",
)
KYC_COLUMNS = (
    "agent_id",
    "email",
    "date_of_birth",
    "pan",
    "gstin",
    "bank_account",
    "ifsc",
    "residential_address",
    "shop_address",
    "submitted_by",
    "submitted_at",
    "approved_by",
    "approved_at",
)
