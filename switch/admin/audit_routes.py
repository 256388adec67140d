"""/v1/audit: the append-only audit log, read-only (auditor, admin). No endpoint
writes or changes it: entries are written by the actions themselves, and the database
refuses any update or delete."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, deps_of, page
from switch.admin.roles import allow
from switch.db.database import Database
from switch.db.rows import json_ready

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", summary="Audit entries, oldest first")
async def entries(
    request: Request,
    who: Annotated[Principal, Depends(allow("audit.read"))],
    object_kind: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=80)] = None,
    actor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 100,
    after: After = None,
) -> dict[str, Any]:
    return page(
        await audit_entries(
            deps_of(request).db, object_kind, object_id, actor, limit + 1, after or 0
        ),
        limit,
    )


async def audit_entries(
    db: Database,
    object_kind: str | None,
    object_id: str | None,
    actor: str | None,
    limit: int,
    after: int,
) -> list[dict[str, Any]]:
    """Entries oldest first, from the one after ``after`` (the API and the pages)."""
    rows = await db.fetch(
        """SELECT id, at, actor, action, object_kind, object_id, before::text AS before,
                  after::text AS after FROM audit_log
            WHERE ($1::text IS NULL OR object_kind = $1) AND ($2::text IS NULL OR object_id = $2)
              AND ($3::text IS NULL OR actor = $3) AND id > $4 ORDER BY id LIMIT $5""",
        object_kind,
        object_id,
        actor,
        after,
        limit,
    )
    return [_entry(r) for r in rows]


def _entry(row: Any) -> dict[str, Any]:
    """An entry with its before and after as the objects they are (not JSON text
    inside JSON)."""
    entry = json_ready(row)
    for side in ("before", "after"):
        entry[side] = json.loads(entry[side]) if entry[side] is not None else None
    return entry
