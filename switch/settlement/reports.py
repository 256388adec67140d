"""MIS: agent statements and totals by biller, region, district, agent, channel and day.
Totals count the payments imported from the system before this one too (channel
``imported``, column ``imported``: how many of a row's pays came in that way).

Days are calendar days in IST (when the pay was made). Commission is what
settlement credited for a settled pay (frozen in settlement_items), and for a posted
pay not yet settled what it will be at the biller's current rate (``commission_settled``
tells them apart in a statement). Every query is bounded: a date range of at most
``MAX_RANGE_DAYS`` and a row limit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from switch.config import BillerConfig
from switch.db.database import Database
from switch.history.archive import archived_months

MAX_RANGE_DAYS = 366
MAX_STATEMENT_ROWS = 100_000
GROUP_COLUMNS = {
    "biller": "p.biller_id",
    "region": "a.region",
    "district": "a.district",
    "agent": "p.agent_id",
    "channel": "p.channel",
    "day": "to_char(p.created_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD')",
}


class ReportError(ValueError):
    """A report that cannot be made; ``field`` names the parameter at fault, if one is
    (the admin API answers it as that field's error)."""

    def __init__(self, message: str, field: str | None = None, why: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.why = why


# Shared FROM clause: pays in an IST date range, with their agent, the commission rate
# of their biller, and their settlement line if settled.
_FROM = """
  FROM pays p
  JOIN agents a ON a.id = p.agent_id
  LEFT JOIN unnest($3::text[], $4::int[]) AS b(biller_id, bps) ON b.biller_id = p.biller_id
  LEFT JOIN settlement_items i ON i.pay_id = p.id
 WHERE p.created_at >= ($1::date::timestamp AT TIME ZONE 'Asia/Kolkata')
   AND p.created_at < (($2::date + 1)::timestamp AT TIME ZONE 'Asia/Kolkata')
"""
_COMMISSION = """CASE WHEN p.state = 'posted'
     THEN coalesce(i.commission_paise, p.amount_paise * coalesce(b.bps, 0) / 10000)
     ELSE 0 END"""


def as_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as CSV with a header line (the keys of the first row); none: empty."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def default_range(
    start: dt.date | None, end: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """A range with its blanks filled: up to ``today``, from 30 days before its end."""
    last = end or today
    if start is None:  # (the earliest day there is, for an end in the year 1's January)
        start = last - dt.timedelta(days=min(29, last.toordinal() - 1))
    return start, last


def check_range(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ReportError(f"the range ends ({end}) before it starts ({start})", "to", "before from")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ReportError(
            f"a report covers at most {MAX_RANGE_DAYS} days", "from", "too far before to"
        )


def _rates(billers: Sequence[BillerConfig]) -> tuple[list[str], list[int]]:
    return [b.id for b in billers], [b.commission_bps for b in billers]


async def totals(
    db: Database,
    by: Sequence[str],
    start: dt.date,
    end: dt.date,
    billers: Sequence[BillerConfig],
) -> list[dict[str, Any]]:
    """One row per group: pays, posted, failed, pending, posted amount, commission."""
    check_range(start, end)
    unknown = [k for k in by if k not in GROUP_COLUMNS]
    if not by or unknown:
        raise ReportError(f"group by one or more of {', '.join(GROUP_COLUMNS)}; got {list(by)}")
    keys = ", ".join(f"{GROUP_COLUMNS[k]} AS {k}" for k in by)
    order = ", ".join(str(n + 1) for n in range(len(by)))
    rows = await db.fetch(
        f"""SELECT {keys}, count(*)::int AS pays,
                   count(*) FILTER (WHERE p.state = 'posted')::int AS posted,
                   count(*) FILTER (WHERE p.state = 'voided')::int AS failed,
                   count(*) FILTER (WHERE p.state NOT IN ('posted', 'voided'))::int AS pending,
                   coalesce(sum(p.amount_paise) FILTER (WHERE p.state = 'posted'), 0)::bigint
                       AS amount_posted_paise,
                   coalesce(sum({_COMMISSION}), 0)::bigint AS commission_paise
            {_FROM} GROUP BY {order} ORDER BY {order}""",
        start,
        end,
        *_rates(billers),
    )
    found = {tuple(r[k] for k in by): dict(r) | {"imported": 0} for r in rows}
    for r in await _imported(db, by, start, end):
        key = tuple(r[k] for k in by)
        row = found.setdefault(key, {k: r[k] for k in by} | dict.fromkeys(_COUNTS, 0))
        for name in ("pays", "posted", "failed", "amount_posted_paise"):
            row[name] += r[name]
        row["imported"] += r["pays"]
    return [found[k] for k in sorted(found, key=lambda k: tuple(str(v) for v in k))]


_COUNTS = (
    "pays",
    "posted",
    "failed",
    "pending",
    "amount_posted_paise",
    "commission_paise",
    "imported",
)
# The same groups over the payments imported from the system before this one
# (switch/imports/): posted or failed as it recorded them, no commission known here,
# their agent found by its legacy reference (none: "").
IMPORTED_COLUMNS = {
    "biller": "l.biller_id",
    "region": "coalesce(a.region, '')",
    "district": "coalesce(a.district, '')",
    "agent": "coalesce(a.id, '')",
    "channel": "'imported'",
    "day": "to_char(l.paid_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD')",
}


async def _imported(
    db: Database, by: Sequence[str], start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    keys = ", ".join(f"{IMPORTED_COLUMNS[k]} AS {k}" for k in by)
    order = ", ".join(str(n + 1) for n in range(len(by)))
    rows = await db.fetch(
        f"""SELECT {keys}, count(*)::int AS pays,
                   count(*) FILTER (WHERE l.status = 'posted')::int AS posted,
                   count(*) FILTER (WHERE l.status = 'failed')::int AS failed,
                   coalesce(sum(l.amount_paise) FILTER (WHERE l.status = 'posted'), 0)::bigint
                       AS amount_posted_paise
              FROM legacy_pays l LEFT JOIN agents a ON a.legacy_ref = l.agent_legacy_ref
             WHERE l.paid_at >= ($1::date::timestamp AT TIME ZONE 'Asia/Kolkata')
               AND l.paid_at < (($2::date + 1)::timestamp AT TIME ZONE 'Asia/Kolkata')
             GROUP BY {order}""",
        start,
        end,
    )
    return [dict(r) for r in rows]


async def agent_statement(
    db: Database,
    agent_id: str,
    start: dt.date,
    end: dt.date,
    billers: Sequence[BillerConfig],
) -> dict[str, Any]:
    """The agent's payments with status, and a summary (the agent's statement)."""
    check_range(start, end)
    agent = await db.fetchrow(
        "SELECT id, name, region, district, state FROM agents WHERE id = $1", agent_id
    )
    if agent is None:
        raise ReportError(f"no agent {agent_id}")
    rows = await db.fetch(
        f"""SELECT p.id AS switch_txn_id, p.biller_txn_id, p.terminal_id, p.terminal_ref,
                   p.biller_id, p.consumer_account, p.amount_paise, p.state, p.error_code,
                   to_char(p.created_at AT TIME ZONE 'Asia/Kolkata',
                           'YYYY-MM-DD"T"HH24:MI:SS.MS+05:30') AS paid_at,
                   {_COMMISSION}::bigint AS commission_paise,
                   i.pay_id IS NOT NULL AS commission_settled
            {_FROM} AND p.agent_id = $5 ORDER BY p.id LIMIT $6""",
        start,
        end,
        *_rates(billers),
        agent_id,
        MAX_STATEMENT_ROWS,
    )
    payments = [dict(r) for r in rows]
    posted = [p for p in payments if p["state"] == "posted"]
    return {
        "agent": dict(agent),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "summary": {
            "pays": len(payments),
            "posted": len(posted),
            "failed": sum(1 for p in payments if p["state"] == "voided"),
            "pending": sum(1 for p in payments if p["state"] not in ("posted", "voided")),
            "amount_posted_paise": sum(p["amount_paise"] for p in posted),
            "commission_paise": sum(p["commission_paise"] for p in posted),
            "truncated": len(payments) == MAX_STATEMENT_ROWS,
        },
        "payments": payments,
        # Months in the range whose pays were archived (switch db archive): not above.
        "archived_months": await archived_months(db, start, end),
    }


async def daily_by_biller(db: Database, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Posted count and value per biller and day: what the chart draws."""
    return await totals(db, ("day", "biller"), start, end, ())
