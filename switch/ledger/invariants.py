"""The ledger's invariants, checked from the database alone.

Tests run ``check`` after every scenario, and ``switch ledger check`` runs it for
operators. Each check is one query; each violation is one readable line.

1. The sum over all accounts is zero (double entry: money is only ever moved).
2. No account below zero unless its kind may go negative (only funding may).
3. Every account's balance equals its journal: credits minus debits over every leg.
4. The in-flight account holds exactly the sum of pending transfers.
5. No pending transfer is past its deadline by more than ``grace_s`` (the expiry
   sweeper voids them; one still pending long after is stuck, not being recovered).
6. Every transfer names accounts that exist (the schema has no foreign keys on the
   hot path; ledger_apply checks, and this proves it did).
"""

from __future__ import annotations

from switch.db import Connection
from switch.ledger.types import IN_FLIGHT_CODE

DEFAULT_GRACE_S = 60.0
MAX_LISTED = 20  # violations listed per check; the count is always exact


async def check(conn: Connection, grace_s: float = DEFAULT_GRACE_S) -> list[str]:
    violations: list[str] = []
    total = await conn.fetchval("SELECT coalesce(sum(balance_paise), 0) FROM accounts")
    if total != 0:
        violations.append(f"sum of all balances is {total} paise, not 0")

    negative = await conn.fetch(
        """SELECT id, code, balance_paise FROM accounts
            WHERE balance_paise < 0 AND NOT may_go_negative ORDER BY id"""
    )
    violations += [
        f"account {r['id']} ({r['code']}) is negative: {r['balance_paise']} paise"
        for r in negative[:MAX_LISTED]
    ]
    _note_more(violations, len(negative), "negative accounts")

    mismatched = await conn.fetch(
        """WITH legs AS (
               SELECT credit_account_id AS acc, amount_paise AS delta FROM journal
               UNION ALL
               SELECT debit_account_id, -amount_paise FROM journal
           ), sums AS (SELECT acc, sum(delta) AS s FROM legs GROUP BY acc)
           SELECT a.id, a.code, a.balance_paise, coalesce(s.s, 0) AS journal_paise
             FROM accounts a LEFT JOIN sums s ON s.acc = a.id
            WHERE a.balance_paise <> coalesce(s.s, 0) ORDER BY a.id"""
    )
    violations += [
        f"account {r['id']} ({r['code']}) balance {r['balance_paise']} paise "
        f"but its journal sums to {r['journal_paise']} paise"
        for r in mismatched[:MAX_LISTED]
    ]
    _note_more(violations, len(mismatched), "balance/journal mismatches")

    row = await conn.fetchrow(
        """SELECT a.balance_paise AS held,
                  (SELECT coalesce(sum(amount_paise), 0) FROM transfers WHERE state = 1) AS pending
             FROM accounts a WHERE a.code = $1""",
        IN_FLIGHT_CODE,
    )
    if row is None:
        violations.append("the in-flight account is missing")
    elif row["held"] != row["pending"]:
        violations.append(
            f"in-flight holds {row['held']} paise but pending transfers sum to {row['pending']}"
        )

    overdue = await conn.fetch(
        """SELECT id, idem_key, expires_at FROM transfers
            WHERE state = 1 AND expires_at < now() - make_interval(secs => $1)
            ORDER BY expires_at""",
        grace_s,
    )
    violations += [
        f"transfer {r['id']} ({r['idem_key']}) still pending, deadline {r['expires_at']:%F %T%z}"
        for r in overdue[:MAX_LISTED]
    ]
    _note_more(violations, len(overdue), "overdue pending transfers")

    orphans = await conn.fetch(
        """SELECT t.id, t.idem_key FROM transfers t
            WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.debit_account_id)
               OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.credit_account_id)
            ORDER BY t.id"""
    )
    violations += [
        f"transfer {r['id']} ({r['idem_key']}) names an account that does not exist"
        for r in orphans[:MAX_LISTED]
    ]
    _note_more(violations, len(orphans), "transfers with missing accounts")
    return violations


def _note_more(violations: list[str], count: int, what: str) -> None:
    if count > MAX_LISTED:
        violations.append(f"... and {count - MAX_LISTED} more {what}")
