"""The catalogue in the database (``biller_catalogue``): written by every switch
process at start, read by the back office and the admin API."""

from __future__ import annotations

import json
from typing import Any

from switch.catalogue.entries import Catalogue
from switch.db.database import Database


async def save(db: Database, catalogue: Catalogue) -> None:
    """The entries of this configuration, and no others, in one transaction. Two
    processes with one configuration write the same rows."""

    async def write(conn: Any) -> None:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM biller_catalogue WHERE NOT (biller_id = ANY($1::text[]))",
                [e["id"] for e in catalogue.entries],
            )
            await conn.executemany(
                """INSERT INTO biller_catalogue (biller_id, entry, version)
                   VALUES ($1, $2::jsonb, $3)
                   ON CONFLICT (biller_id) DO UPDATE
                      SET entry = excluded.entry, version = excluded.version, updated_at = now()
                    WHERE biller_catalogue.version <> excluded.version""",
                [
                    (e["id"], json.dumps(e, ensure_ascii=False), catalogue.version)
                    for e in catalogue.entries
                ],
            )

    await db.run(write)


async def load(db: Database) -> dict[str, Any]:
    """{version, billers}: what terminals are told, as stored."""
    rows = await db.fetch("SELECT entry, version FROM biller_catalogue ORDER BY biller_id")
    versions = {r["version"] for r in rows}
    return {
        "version": versions.pop() if len(versions) == 1 else "",
        "billers": [json.loads(r["entry"]) for r in rows],
    }
