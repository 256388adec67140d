"""Partners and their signing keys in the database.

A partner (a bank, the post office, an aggregator) is a row of ``agents`` of kind
``partner``: its prefunded account is a ledger wallet (``wallet:<partner id>``), so
top-ups, limits, freezes, holds, settlement and complaints are the agents' own. Its
keys are Ed25519: the private key is generated here, shown once to whoever onboarded
the partner, and never stored.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import AccountKind, Ledger
from switch.protocols.terminal.crypto import public_bytes

MOBILE_RE = re.compile(r"[6-9][0-9]{9}")
INSTITUTIONS = ("bank", "post_office", "aggregator")
MAX_ACTIVE_KEYS = 4  # enough to roll keys; a leak cannot mint many


class PartnerError(Exception):
    """A partner request was refused; ``field`` names what was wrong, if one thing."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code  # "invalid", "not_found" or "invalid_state"


@dataclass(frozen=True)
class PartnerKey:
    """What checking one signed request needs: the key and its partner."""

    key_id: str
    partner_id: str
    public_key: bytes
    key_state: str
    partner_state: str
    wallet_account_id: int


@dataclass(frozen=True)
class NewKey:
    key_id: str
    partner_id: str
    private_key: Ed25519PrivateKey  # shown once, never stored

    def shown(self) -> dict[str, str]:
        """The key as its partner keeps it (the admin API's answer, the demo's
        partner.json): the private key, raw, in base64."""
        raw = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return {
            "key_id": self.key_id,
            "partner_id": self.partner_id,
            "private_key_b64": base64.b64encode(raw).decode(),
            "public_key_b64": base64.b64encode(public_bytes(self.private_key)).decode(),
        }


# A partner's account limits until finance sets its own (PUT .../wallet/limits): a
# bank prefunds far more than a village shop's wallet holds.
PARTNER_MAX_BALANCE_PAISE = 10_00_00_000_00  # ₹10 crore
PARTNER_PER_TXN_PAISE = 1_00_000_00  # ₹1 lakh
PARTNER_PER_DAY_PAISE = 5_00_00_000_00  # ₹5 crore


async def add_partner(
    db: Database, ledger: Ledger, name: str, mobile: str, institution: str, actor: str
) -> tuple[dict[str, Any], NewKey]:
    """An active partner with an empty prefund account, the partners' default limits
    and its first key; audited."""
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise PartnerError("name: must be 1-100 characters", "name")
    if not MOBILE_RE.fullmatch(mobile):
        raise PartnerError("mobile: a 10-digit Indian mobile number (6-9 first)", "mobile")
    if institution not in INSTITUTIONS:
        raise PartnerError(f"institution: one of {', '.join(INSTITUTIONS)}", "institution")
    partner_no = await db.fetchval("SELECT nextval('partner_no')")
    partner_id = f"PA{partner_no:06d}"
    wallet = await ledger.open_account(AccountKind.WALLET, f"wallet:{partner_id}", name)
    key = Ed25519PrivateKey.generate()
    key_id = f"{partner_id}-K1"

    async def write(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO agents (id, name, mobile, fps_id, wallet_account_id, state,
                                       kind, institution)
                   VALUES ($1, $2, $3, NULL, $4, 'active', 'partner', $5) RETURNING *""",
                partner_id,
                name,
                mobile,
                wallet.id,
                institution,
            )
            assert row is not None
            await conn.execute(
                """INSERT INTO wallet_limits (agent_id, max_balance_paise, per_txn_paise,
                                              per_day_paise, updated_by)
                   VALUES ($1, $2, $3, $4, $5)""",
                partner_id,
                PARTNER_MAX_BALANCE_PAISE,
                PARTNER_PER_TXN_PAISE,
                PARTNER_PER_DAY_PAISE,
                actor,
            )
            await _insert_key(conn, key_id, partner_id, key, actor)
            shown = _partner(row)
            await audit(conn, actor, "partner.add", "partner", partner_id, None, shown)
            return shown

    shown = await db.run(write)
    return shown, NewKey(key_id, partner_id, key)


async def _insert_key(
    conn: Connection, key_id: str, partner_id: str, key: Ed25519PrivateKey, actor: str
) -> None:
    await conn.execute(
        """INSERT INTO partner_keys (key_id, partner_id, public_key, created_by)
           VALUES ($1, $2, $3, $4)""",
        key_id,
        partner_id,
        public_bytes(key),
        actor,
    )
    await audit(
        conn, actor, "partner.key_add", "partner_key", key_id, None, {"partner": partner_id}
    )


async def add_key(db: Database, partner_id: str, actor: str) -> NewKey:
    """Another active key (to roll to it); refused beyond ``MAX_ACTIVE_KEYS``."""
    key = Ed25519PrivateKey.generate()

    async def write(conn: Connection) -> str:
        async with conn.transaction():
            partner = await conn.fetchrow(
                "SELECT * FROM agents WHERE id = $1 AND kind = 'partner' FOR UPDATE", partner_id
            )
            if partner is None:
                raise PartnerError(f"no partner {partner_id}", code="not_found")
            keys = await conn.fetch(
                "SELECT key_id, state FROM partner_keys WHERE partner_id = $1", partner_id
            )
            if sum(k["state"] == "active" for k in keys) >= MAX_ACTIVE_KEYS:
                raise PartnerError(
                    f"{partner_id} has {MAX_ACTIVE_KEYS} active keys: revoke one first",
                    code="invalid_state",
                )
            key_id = f"{partner_id}-K{len(keys) + 1}"
            await _insert_key(conn, key_id, partner_id, key, actor)
            return key_id

    return NewKey(await db.run(write), partner_id, key)


async def revoke_key(db: Database, partner_id: str, key_id: str, actor: str) -> dict[str, Any]:
    """Revoke a key for ever; every switch process refuses it within its key cache's
    refresh (``[partners] key_refresh_s``)."""

    async def write(conn: Connection) -> dict[str, Any]:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE partner_keys SET state = 'revoked', revoked_at = now()
                    WHERE key_id = $1 AND partner_id = $2 AND state = 'active'
                    RETURNING key_id, partner_id, state, created_at, revoked_at""",
                key_id,
                partner_id,
            )
            if row is None:
                raise PartnerError(f"no active key {key_id} of {partner_id}", code="not_found")
            shown = json_ready(row)
            await audit(conn, actor, "partner.key_revoke", "partner_key", key_id, None, shown)
            return shown

    return await db.run(write)


async def list_partners(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT a.*, w.balance_paise,
                  coalesce((SELECT json_agg(json_build_object(
                                'key_id', k.key_id, 'state', k.state,
                                'created_at', k.created_at, 'revoked_at', k.revoked_at)
                                ORDER BY k.key_id)
                              FROM partner_keys k WHERE k.partner_id = a.id), '[]') AS keys
             FROM agents a JOIN accounts w ON w.id = a.wallet_account_id
            WHERE a.kind = 'partner' ORDER BY a.id"""
    )
    return [
        _partner(r) | {"balance_paise": r["balance_paise"], "keys": json.loads(r["keys"])}
        for r in rows
    ]


async def key_of(db: Database, key_id: str) -> PartnerKey | None:
    row = await db.fetchrow(
        """SELECT k.key_id, k.partner_id, k.public_key, k.state AS key_state,
                  a.state AS partner_state, a.wallet_account_id
             FROM partner_keys k JOIN agents a ON a.id = k.partner_id
            WHERE k.key_id = $1 AND a.kind = 'partner'""",
        key_id,
    )
    if row is None:
        return None
    return PartnerKey(
        row["key_id"],
        row["partner_id"],
        bytes(row["public_key"]),
        row["key_state"],
        row["partner_state"],
        row["wallet_account_id"],
    )


def _partner(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "mobile": row["mobile"],
        "institution": row["institution"],
        "state": row["state"],
        "wallet_account_id": row["wallet_account_id"],
        "created_at": row["created_at"].isoformat(),
    }
