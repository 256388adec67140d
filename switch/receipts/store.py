"""A posted pay's receipt, read from the database (the pay, its biller's name from
the stored catalogue, the agent's shop or the partner's name)."""

from __future__ import annotations

from switch.db.database import Database
from switch.receipts.pdf import Receipt

_SQL = """
SELECT p.id, p.biller_txn_id, p.biller_id, p.consumer_account, p.amount_paise,
       p.updated_at, p.channel, p.terminal_id, p.terminal_ref, p.agent_id, p.state,
       a.name AS agent_name, c.entry ->> 'name' AS biller_name
  FROM pays p
  JOIN agents a ON a.id = p.agent_id
  LEFT JOIN biller_catalogue c ON c.biller_id = p.biller_id
 WHERE p.id = $1
"""


async def receipt_of(db: Database, txn_id: int) -> tuple[str, Receipt] | None:
    """(the pay's agent id, its receipt); None if there is no posted pay ``txn_id``
    (a failed pay has no receipt: its money is back where it came from)."""
    row = await db.fetchrow(_SQL, txn_id)
    if row is None or row["state"] != "posted":
        return None
    receipt = Receipt(
        txn_id=row["id"],
        biller_txn_id=row["biller_txn_id"],
        biller_id=row["biller_id"],
        biller_name=row["biller_name"] or row["biller_id"],
        consumer_account=row["consumer_account"],
        amount_paise=row["amount_paise"],
        paid_at=row["updated_at"],
        channel=row["channel"],
        source_id=row["terminal_id"],
        source_ref=row["terminal_ref"],
        paid_through=f"{row['agent_name']} ({row['agent_id']})",
    )
    return row["agent_id"], receipt
