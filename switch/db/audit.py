"""The audit log: who did what, when, and the object before and after.

Append-only (the table refuses updates and deletes: migration 0007). Written in the
same transaction as the change it records, so there is never a change without its
entry, nor an entry for a change that rolled back.
"""

from __future__ import annotations

import json
from typing import Any

from switch.db import Connection


async def audit(
    conn: Connection,
    actor: str,
    action: str,
    object_kind: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Append to the audit log (the table refuses updates and deletes)."""
    await conn.execute(
        """INSERT INTO audit_log (actor, action, object_kind, object_id, before, after)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)""",
        actor,
        action,
        object_kind,
        object_id,
        json.dumps(before) if before is not None else None,
        json.dumps(after) if after is not None else None,
    )
