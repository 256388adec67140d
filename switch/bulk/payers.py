"""Payer organisations, their circles and sites, in the database.

A payer is an ``agents`` row of kind ``payer``: its prefunded account is a ledger
wallet (``wallet:<payer id>``), topped up, limited and frozen as any other, and every
bill it pays is a pay of channel ``bulk`` from it. Its staff are users bound to it
(roles ``site_incharge``, ``dgm_f``, ``circle_nodal``). A site is one consumer
account at one discom, registered with what the checks, the ERP and the priority
need: meter number, cost centre, vendor code, tariff category, pay category, load.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from switch.bulk.priority import CATEGORIES
from switch.bulk.tariffs import Site
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import AccountKind, Ledger

# A payer's account limits until finance sets its own: an organisation's month of
# bills, thousands of them, some of a large exchange's lakhs.
PAYER_MAX_BALANCE_PAISE = 50_00_00_000_00  # ₹50 crore
PAYER_PER_TXN_PAISE = 50_00_000_00  # ₹50 lakh
PAYER_PER_DAY_PAISE = 50_00_00_000_00


class PayerError(Exception):
    def __init__(self, message: str, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


@dataclass(frozen=True)
class SiteIn:
    circle_id: str
    site_code: str
    name: str
    biller_id: str
    consumer_account: str
    meter_no: str
    cost_centre: str
    vendor_code: str
    category: str
    pay_category: str
    sanctioned_load_kw: Decimal = Decimal(0)
    contract_demand_kva: Decimal = Decimal(0)


async def add_payer(
    db: Database, ledger: Ledger, name: str, mobile: str, actor: str
) -> dict[str, Any]:
    """An active payer with an empty prefunded account and the payers' limits."""
    payer_id = f"PY{await db.fetchval('SELECT nextval($1::regclass)', 'payer_no'):06d}"
    wallet = await ledger.open_account(AccountKind.WALLET, f"wallet:{payer_id}", name)

    async def write(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state,
                                       kind, institution)
                   VALUES ($1, $2, $3, NULL, $4, 'active', 'payer', NULL) RETURNING *""",
                payer_id,
                name,
                mobile,
                wallet.id,
            )
            assert row is not None
            await conn.execute(
                """INSERT INTO wallet_limits (agent_id, max_balance_paise, per_txn_paise,
                                              per_day_paise, updated_by)
                   VALUES ($1, $2, $3, $4, $5)""",
                payer_id,
                PAYER_MAX_BALANCE_PAISE,
                PAYER_PER_TXN_PAISE,
                PAYER_PER_DAY_PAISE,
                actor,
            )
            shown = {"id": payer_id, "name": name, "mobile": mobile, "state": "active"}
            await audit(conn, actor, "payer.add", "payer", payer_id, None, shown)
            return shown

    return await db.run(write)


async def payer(db: Database, payer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT id, name, mobile, state, wallet_account_id FROM agents WHERE id = $1"
        " AND kind = 'payer'",
        payer_id,
    )


async def add_circle(
    db: Database, payer_id: str, circle_id: str, name: str, actor: str
) -> dict[str, Any]:
    async def write(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO payer_circles (payer_id, id, name) VALUES ($1, $2, $3)",
                    payer_id,
                    circle_id,
                    name,
                )
            except asyncpg.UniqueViolationError:
                raise PayerError(f"circle {circle_id} exists", "conflict", "id") from None
            except asyncpg.CheckViolationError:
                raise PayerError("id: 1-20 of A-Z a-z 0-9 _ -", "invalid", "id") from None
            shown = {"payer_id": payer_id, "id": circle_id, "name": name}
            await audit(conn, actor, "payer.circle", "payer", payer_id, None, shown)
            return shown

    return await db.run(write)


async def add_site(
    db: Database, payer_id: str, s: SiteIn, billers: frozenset[str], actor: str
) -> dict[str, Any]:
    if s.biller_id not in billers:
        raise PayerError(f"biller_id: no biller {s.biller_id!r} here", "invalid", "biller_id")
    if s.pay_category not in CATEGORIES:
        raise PayerError(f"pay_category: one of {', '.join(CATEGORIES)}", "invalid", "pay_category")

    async def write(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            try:
                row = await conn.fetchrow(
                    """INSERT INTO payer_sites (payer_id, circle_id, site_code, name, biller_id,
                           consumer_account, meter_no, cost_centre, vendor_code, category,
                           pay_category, sanctioned_load_kw, contract_demand_kva)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                       RETURNING *""",
                    payer_id,
                    s.circle_id,
                    s.site_code,
                    s.name,
                    s.biller_id,
                    s.consumer_account,
                    s.meter_no,
                    s.cost_centre,
                    s.vendor_code,
                    s.category,
                    s.pay_category,
                    s.sanctioned_load_kw,
                    s.contract_demand_kva,
                )
            except asyncpg.ForeignKeyViolationError:
                raise PayerError(
                    f"circle_id: no circle {s.circle_id!r}", "invalid", "circle_id"
                ) from None
            except asyncpg.UniqueViolationError as exc:
                which = "site_code" if "site_code" in str(exc) else "consumer_account"
                raise PayerError(f"{which}: already registered", "conflict", which) from None
            except asyncpg.CheckViolationError as exc:
                raise PayerError(f"a field breaks its rule ({exc.constraint_name})") from None
            assert row is not None
            shown = {k: str(v) if isinstance(v, Decimal) else v for k, v in json_ready(row).items()}
            await audit(conn, actor, "payer.site", "site", str(row["id"]), None, shown)
            return shown

    return await db.run(write)


def site_of(row: asyncpg.Record) -> Site:
    return Site(row["sanctioned_load_kw"], row["contract_demand_kva"])
