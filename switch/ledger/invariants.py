"""The ledger's invariants, checked from the database alone.

Tests run ``check`` after every scenario, and ``switch ledger check`` runs it for
operators. Each check is one query; each violation is one readable line.

1. The sum over all accounts is zero (double entry: money is only ever moved).
2. No account below zero unless its kind may go negative (funding and billers' receivables may).
3. Every account's balance equals its journal: credits minus debits over every leg,
   plus what the transfers of archived months had moved (``ledger_archived``).
4. The in-flight account holds exactly the sum of pending transfers.
5. No pending transfer is past its deadline by more than ``grace_s`` (the expiry
   sweeper voids them; one still pending long after is stuck, not being recovered).
6. Every transfer names accounts that exist (the schema has no foreign keys on the
   hot path; ledger_apply checks, and this proves it did).
7. Every pay agrees with its hold (the transfer keyed ``pay:<terminal>:<ref>``): a
   posted pay has its hold posted; a voided pay's hold is voided, refused or was never
   taken; a pay whose hold was posted is never voided; and no final pay keeps a hold
   pending for longer than ``grace_s`` (recovery gives back a hold that reached the
   ledger after its pay ended). A refund of a posted pay is its own transfer and
   leaves the hold posted.
"""

from __future__ import annotations

from switch.db import Connection
from switch.ledger.types import IN_FLIGHT_CODE

DEFAULT_GRACE_S = 60.0
MAX_LISTED = 20  # violations listed per check; the count is always exact


async def check(conn: Connection, grace_s: float = DEFAULT_GRACE_S) -> list[str]:
    """Every violated invariant, one readable line each (empty: all hold)."""
    violations: list[str] = []
    for one in (
        _sum_is_zero,
        _no_negative,
        _balances_match_journal,
        _in_flight_is_pending,
        _transfers_name_real_accounts,
    ):
        violations += await one(conn)
    violations += await _no_overdue_pending(conn, grace_s)
    violations += await _pays_agree_with_holds(conn, grace_s)
    return violations


async def _sum_is_zero(conn: Connection) -> list[str]:
    total = await conn.fetchval("SELECT coalesce(sum(balance_paise), 0) FROM accounts")
    return [] if total == 0 else [f"sum of all balances is {total} paise, not 0"]


async def _no_negative(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT id, code, balance_paise FROM accounts
            WHERE balance_paise < 0 AND NOT may_go_negative ORDER BY id"""
    )
    lines = [
        f"account {r['id']} ({r['code']}) is negative: {r['balance_paise']} paise" for r in rows
    ]
    return _bounded(lines, "negative accounts")


async def _balances_match_journal(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        """WITH legs AS (
               SELECT credit_account_id AS acc, amount_paise AS delta FROM journal
               UNION ALL
               SELECT debit_account_id, -amount_paise FROM journal
               UNION ALL
               SELECT account_id, net_paise FROM ledger_archived
           ), sums AS (SELECT acc, sum(delta) AS s FROM legs GROUP BY acc)
           SELECT a.id, a.code, a.balance_paise, coalesce(s.s, 0) AS journal_paise
             FROM accounts a LEFT JOIN sums s ON s.acc = a.id
            WHERE a.balance_paise <> coalesce(s.s, 0) ORDER BY a.id"""
    )
    lines = [
        f"account {r['id']} ({r['code']}) balance {r['balance_paise']} paise "
        f"but its journal sums to {r['journal_paise']} paise"
        for r in rows
    ]
    return _bounded(lines, "balance/journal mismatches")


async def _in_flight_is_pending(conn: Connection) -> list[str]:
    row = await conn.fetchrow(
        """SELECT a.balance_paise AS held,
                  (SELECT coalesce(sum(amount_paise), 0) FROM transfers WHERE state = 1) AS pending
             FROM accounts a WHERE a.code = $1""",
        IN_FLIGHT_CODE,
    )
    if row is None:
        return ["the in-flight account is missing"]
    if row["held"] != row["pending"]:
        return [
            f"in-flight holds {row['held']} paise but pending transfers sum to {row['pending']}"
        ]
    return []


async def _no_overdue_pending(conn: Connection, grace_s: float) -> list[str]:
    rows = await conn.fetch(
        """SELECT id, idem_key, expires_at FROM transfers
            WHERE state = 1 AND expires_at < now() - make_interval(secs => $1)
            ORDER BY expires_at""",
        grace_s,
    )
    lines = [
        f"transfer {r['id']} ({r['idem_key']}) still pending, deadline {r['expires_at']:%F %T%z}"
        for r in rows
    ]
    return _bounded(lines, "overdue pending transfers")


async def _transfers_name_real_accounts(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT t.id, t.idem_key FROM transfers t
            WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.debit_account_id)
               OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.credit_account_id)
            ORDER BY t.id"""
    )
    lines = [
        f"transfer {r['id']} ({r['idem_key']}) names an account that does not exist" for r in rows
    ]
    return _bounded(lines, "transfers with missing accounts")


async def _pays_agree_with_holds(conn: Connection, grace_s: float) -> list[str]:
    rows = await conn.fetch(
        """SELECT p.id, p.state, p.error_code, t.state AS hold
             FROM pays p
             LEFT JOIN transfer_keys k
                    ON k.idem_key = 'pay:' || p.terminal_id || ':' || p.terminal_ref
             LEFT JOIN transfers t ON t.id = k.transfer_id
            WHERE (p.state = 'posted' AND t.state IS DISTINCT FROM 2)
               OR (p.state = 'voided' AND t.state = 2)
               OR (p.state IN ('posted', 'voided') AND t.state = 1
                   AND t.created_at < now() - make_interval(secs => $1))
            ORDER BY p.id""",
        grace_s,
    )
    names = {1: "pending", 2: "posted", 3: "voided", 4: "refused"}
    lines = [
        f"pay {r['id']} is {r['state']}"
        + (f" ({r['error_code']})" if r["error_code"] else "")
        + f" but its hold is {names.get(r['hold'], 'missing') if r['hold'] else 'missing'}"
        for r in rows
    ]
    return _bounded(lines, "pays that disagree with their holds")


def _bounded(lines: list[str], what: str) -> list[str]:
    """At most MAX_LISTED lines, and a count of the rest."""
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more {what}"]
