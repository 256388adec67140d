"""Agents with their KYC, as onboarding checks them (switch/imports/entities.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from switch.admin.errors import field_errors
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
