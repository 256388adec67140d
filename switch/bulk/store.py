"""A payer's bills in the database: taken in once, checked, moved along the chain.

Taking a bill in (``take_in``) and every step (``decide``) is one transaction: the
bill, its docket and its milestones together. A step reads the bill under its row lock
and takes the workflow's rule from that stored state (switch/bulk/workflow.py), so a
second approver of the same bill, or a page that is out of date, is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

import asyncpg

from switch.bulk import validation, workflow
from switch.bulk.bills import Bill, Month
from switch.bulk.payers import site_of
from switch.bulk.tariffs import Tariff
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database

MULTIPLE_INVOICE_DAYS = 15  # a second bill of a site within this many days: flagged MI


@dataclass
class Intake:
    taken_in: int = 0
    already_in: int = 0
    by_letter: dict[str, int] = field(default_factory=dict)
    multiple_invoices: int = 0

    def shown(self) -> dict[str, Any]:
        return asdict(self)


async def site_codes(db: Database, payer_id: str) -> frozenset[str]:
    rows = await db.fetch("SELECT site_code FROM payer_sites WHERE payer_id = $1", payer_id)
    return frozenset(r["site_code"] for r in rows)


async def take_in(
    db: Database,
    payer_id: str,
    bills: Sequence[Bill],
    source: str,
    tariffs: Mapping[tuple[str, str], Tariff],
    actor: str,
) -> Intake:
    """Every bill checked and put in its first queue, in one transaction (a file is
    taken in whole); a bill already here (its site and number) is left as it is. The
    work is set-based, ``CHUNK`` bills a round trip: what is here already, the sites'
    earlier bills (their history, and any within 15 days: MI), then the checks in
    Python, then the bills, dockets and milestones written together."""

    async def write(conn: Connection) -> Intake:
        result = Intake()
        async with conn.transaction():
            sites = {
                r["site_code"]: r
                for r in await conn.fetch("SELECT * FROM payer_sites WHERE payer_id = $1", payer_id)
            }
            ordered = sorted(bills, key=lambda b: (b.site_id, b.bill_date, b.bill_no))
            for n in range(0, len(ordered), CHUNK):
                await _take_chunk(
                    conn, sites, ordered[n : n + CHUNK], source, tariffs, actor, result
                )
            await audit(conn, actor, "bulk.intake", "payer", payer_id, None,
                        {"source": source} | result.shown())  # fmt: skip
        return result

    return await db.run(write)


CHUNK = 2000
EARLIER_DAYS = 400  # enough for six monthly bills before a chunk's first, and MI after


@dataclass(frozen=True)
class _Earlier:
    bill_no: str
    bill_date: dt.date
    month: Month


async def _take_chunk(
    conn: Connection,
    sites: Mapping[str, asyncpg.Record],
    chunk: Sequence[Bill],
    source: str,
    tariffs: Mapping[tuple[str, str], Tariff],
    actor: str,
    result: Intake,
) -> None:
    site_ids = [sites[b.site_id]["id"] for b in chunk]
    here = await conn.fetch(
        """SELECT site_id, bill_no, bill_date, units, current_paise, cmr FROM site_bills
            WHERE site_id = ANY($1::bigint[]) AND bill_date >= $2::date - $3::int""",
        sorted(set(site_ids)),
        min(b.bill_date for b in chunk),
        EARLIER_DAYS,
    )
    known: dict[int, list[_Earlier]] = {}
    for r in here:
        month = Month(r["units"], r["current_paise"], r["cmr"])
        known.setdefault(r["site_id"], []).append(_Earlier(r["bill_no"], r["bill_date"], month))
    rows: list[tuple[Any, ...]] = []
    notes: list[tuple[list[dict[str, str]], str, str, str]] = []
    for bill, site_id in zip(chunk, site_ids, strict=True):
        earlier = known.setdefault(site_id, [])
        if any(e.bill_no == bill.bill_no for e in earlier):
            result.already_in += 1
            continue
        row, note = _checked(sites[bill.site_id], bill, earlier, source, tariffs)
        rows.append(row)
        notes.append(note)
        earlier.append(_Earlier(bill.bill_no, bill.bill_date,
                                Month(bill.units, bill.current_paise, bill.cmr)))  # fmt: skip
        result.taken_in += 1
        result.multiple_invoices += bool(row[22])
        result.by_letter[note[1]] = result.by_letter.get(note[1], 0) + 1
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    ids = await conn.fetch(
        f"""INSERT INTO site_bills ({BILL_COLUMNS})
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::date[], $5::date[],
                   $6::bigint[], $7::bigint[], $8::bigint[], $9::int[], $10::text[], $11::text[],
                   $12::int[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],
                   $17::bigint[], $18::bigint[], $19::bigint[], $20::jsonb[], $21::jsonb[],
                   $22::text[], $23::bool[], $24::text[], $25::jsonb[], $26::bigint[], $27::text[])
            RETURNING id, site_id, bill_no""",
        *[list(c) for c in columns],
    )
    id_of = {(r["site_id"], r["bill_no"]): r["id"] for r in ids}
    bill_ids = [id_of[(row[0], row[2])] for row in rows]
    dockets = [(i, json.dumps(f)) for i, (f, *_) in zip(bill_ids, notes, strict=True) if f]
    if dockets:
        await conn.executemany(
            "INSERT INTO bill_dockets (bill_id, failures) VALUES ($1, $2::jsonb)", dockets
        )
    await conn.copy_records_to_table(
        "bill_milestones",
        columns=("bill_id", "milestone", "actor", "note"),
        records=[
            record
            for i, (_, letter, said, state) in zip(bill_ids, notes, strict=True)
            for record in (
                (i, "taken_in", actor, source),
                (i, f"checked_{letter}", actor, said),
                (i, f"to_{state}", actor, None),
            )
        ],
    )


def _checked(
    site: asyncpg.Record,
    bill: Bill,
    earlier: list[_Earlier],
    source: str,
    tariffs: Mapping[tuple[str, str], Tariff],
) -> tuple[tuple[Any, ...], tuple[list[dict[str, str]], str, str, str]]:
    """A bill's checks against its site's earlier bills: its row (``BILL_COLUMNS``),
    and its docket's failures, letter, what the checks said and its first queue."""
    if not bill.history:  # the site's own earlier bills here, newest first
        before = sorted((e for e in earlier if e.bill_date < bill.bill_date),
                        key=lambda e: e.bill_date, reverse=True)  # fmt: skip
        months = tuple(e.month for e in before[: validation.HISTORY_MONTHS])
        bill = replace(bill, history=months)
    days = MULTIPLE_INVOICE_DAYS
    mi = any(abs((e.bill_date - bill.bill_date).days) <= days for e in earlier)
    out = validation.validate(
        bill, site_of(site), tariffs.get((site["biller_id"], site["category"]))
    )
    failures = [asdict(f) for f in out.failures]
    if mi:
        failures.append({"check": "multiple_invoice", "says": f"another bill within {days} days"})
    state = "site_incharge" if mi else out.first_approver
    checks = json.dumps({"failures": failures, "obv_skipped": out.obv_skipped})
    row = (
        site["id"], site["payer_id"], bill.bill_no, bill.bill_date, bill.due_date, bill.omr,
        bill.cmr, bill.units, bill.multiplying_factor, bill.billing_type, bill.meter_status,
        bill.billing_days, bill.current_paise, bill.arrears_paise, bill.taxes_paise,
        bill.meter_rent_paise, bill.surcharge_paise, bill.tcs_paise, bill.gross_paise,
        json.dumps({k: str(v) for k, v in bill.dynamic.items()}),
        json.dumps([asdict(m) for m in bill.history]), source, mi, out.letter, checks,
        out.tariff_gross_paise, state,
    )  # fmt: skip
    said = ", ".join(f["check"] for f in failures) or "all passed"
    return row, (failures, out.letter, said, state)


BILL_COLUMNS = (
    "site_id, payer_id, bill_no, bill_date, due_date, omr, cmr, units, multiplying_factor,"
    " billing_type, meter_status, billing_days, current_paise, arrears_paise, taxes_paise,"
    " meter_rent_paise, surcharge_paise, tcs_paise, gross_paise, dynamic, history, source,"
    " multiple_invoice, letter, checks, tariff_gross_paise, state"
)


async def _milestone(
    conn: Connection, bill_id: int, milestone: str, actor: str, note: str | None
) -> None:
    await conn.execute(
        "INSERT INTO bill_milestones (bill_id, milestone, actor, note) VALUES ($1, $2, $3, $4)",
        bill_id,
        milestone,
        actor,
        note,
    )


@dataclass(frozen=True)
class Decision:
    action: str
    role: str
    actor: str
    reason: str | None = None
    back_to: str | None = None
    approved_paise: int | None = None
    liability_doc: str | None = None
    tds_paise: int | None = None
    circle_id: str | None = None  # the decider's circle: other circles' bills are not theirs


async def decide(
    db: Database, payer_id: str, bill_ids: Sequence[int], d: Decision
) -> dict[int, str]:
    """Each bill's step (a bulk approval is many), in one transaction: what happened
    to each, "ok" or why it was refused. A refused bill does not stop the others."""

    async def write(conn: Connection) -> dict[int, str]:
        said: dict[int, str] = {}
        async with conn.transaction():
            for bill_id in sorted(set(bill_ids)):  # one lock order: no deadlock between bulks
                said[bill_id] = await step_one(conn, payer_id, bill_id, d)
        return said

    return await db.run(write)


async def step_one(conn: Connection, payer_id: str, bill_id: int, d: Decision) -> str:
    """One bill's step under its row lock, from its stored state."""
    bill = await conn.fetchrow(
        """SELECT b.* FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
            WHERE b.id = $1 AND b.payer_id = $2 AND ($3::text IS NULL OR s.circle_id = $3)
              FOR UPDATE OF b""",
        bill_id,
        payer_id,
        d.circle_id,
    )
    if bill is None:
        return "not_found: no such bill of this payer"
    stored = bill["approved_paise"]
    amount = d.approved_paise if d.approved_paise is not None else stored
    if amount is None:
        amount = max(0, bill["gross_paise"])  # until someone amends it: the bill's gross
    try:
        to, _ = workflow.step(
            bill["state"], d.action, d.role, reason=d.reason, back_to=d.back_to,
            approved_paise=d.approved_paise, amount_now=amount,
        )  # fmt: skip
    except workflow.StepRefused as exc:
        return f"{exc.code}: {exc}"
    net = bill["net_payable_paise"]
    if d.action == "liability":
        assert d.tds_paise is not None and d.liability_doc
        net = max(0, amount - d.tds_paise)
    await conn.execute(
        """UPDATE site_bills SET state = $2, approved_paise = $3, last_reason = $4,
                  liability_doc = COALESCE($5, liability_doc),
                  tds_paise = COALESCE($6, tds_paise), net_payable_paise = $7,
                  updated_at = now()
            WHERE id = $1""",
        bill_id,
        to,
        amount if d.action == "approve" else stored,
        d.reason,
        d.liability_doc,
        d.tds_paise,
        net,
    )
    # The docket's exception is answered once the site in-charge decided, or the bill ended.
    if bill["state"] == "site_incharge" or to in workflow.ENDS:
        await conn.execute(
            "UPDATE bill_dockets SET closed_at = now(), closed_by = $2"
            " WHERE bill_id = $1 AND closed_at IS NULL",
            bill_id,
            d.actor,
        )
    await _milestone(conn, bill_id, d.action, d.actor, d.reason or d.liability_doc)
    await audit(conn, d.actor, f"bulk.{d.action}", "site_bill", str(bill_id),
                {"state": bill["state"]}, {"state": to, "approved_paise": amount})  # fmt: skip
    return "ok"


def bill_code(letter: str, bill_id: int) -> str:
    """The bill's id as its approvers see it: the checks' letter, then the number."""
    return f"{letter}{bill_id}"


async def bills(
    db: Database,
    payer_id: str,
    state: str | None = None,
    limit: int = 500,
    bill_id: int | None = None,
    circle: str | None = None,
) -> list[dict[str, Any]]:
    """The payer's bills (by state, or the one ``bill_id``; of one circle) with their
    sites' names."""
    rows = await db.fetch(
        """SELECT b.*, s.site_code, s.circle_id, s.pay_category, s.biller_id,
                  s.consumer_account
             FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
            WHERE b.payer_id = $1 AND ($2::text IS NULL OR b.state = $2)
              AND ($4::bigint IS NULL OR b.id = $4) AND ($5::text IS NULL OR s.circle_id = $5)
            ORDER BY b.id LIMIT $3""",
        payer_id,
        state,
        limit,
        bill_id,
        circle,
    )
    return [shown(r) for r in rows]


def shown(r: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in dict(r).items():
        if isinstance(v, dt.date | dt.datetime):
            out[k] = v.isoformat()
        elif isinstance(v, Decimal):
            out[k] = str(v)
        elif k in ("checks", "dynamic", "history") and isinstance(v, str):
            out[k] = json.loads(v)
        else:
            out[k] = v
    out["code"] = bill_code(r["letter"], r["id"])
    return out


async def milestones(db: Database, bill_id: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT milestone, actor, note, at FROM bill_milestones WHERE bill_id = $1 ORDER BY id",
        bill_id,
    )
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


def shown_docket(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "failures": json.loads(r["failures"]) if isinstance(r["failures"], str) else r["failures"],
        "opened_at": r["opened_at"].isoformat(),
        "closed_at": r["closed_at"].isoformat() if r["closed_at"] else None,
        "closed_by": r["closed_by"],
    }


MIS_BY = {
    "circle": "s.circle_id",
    "site": "s.site_code",
    "category": "s.pay_category",
    "month": "to_char(b.bill_date, 'YYYY-MM')",
    "letter": "b.letter",
    "state": "b.state",
}


async def mis(
    db: Database, payer_id: str, by: str, circle: str | None = None
) -> list[dict[str, Any]]:
    """The payer's bills grouped ``by`` one of MIS_BY: how many, what the discoms asked
    (gross), what was approved, what was paid, and what the checks saved (the gross of
    bills not to pay or cancelled, and what approvers cut from the rest)."""
    key = MIS_BY[by]
    rows = await db.fetch(
        f"""SELECT {key} AS key, count(*) AS bills,
                   count(*) FILTER (WHERE b.letter = 'A') AS all_passed,
                   count(*) FILTER (WHERE d.bill_id IS NOT NULL) AS dockets,
                   coalesce(sum(b.gross_paise), 0) AS gross_paise,
                   coalesce(sum(b.approved_paise), 0) AS approved_paise,
                   coalesce(sum(b.net_payable_paise) FILTER (WHERE b.state = 'paid'), 0)
                       AS paid_paise,
                   coalesce(sum(CASE WHEN b.state IN ('not_to_pay', 'cancelled')
                                     THEN b.gross_paise
                                     WHEN b.approved_paise IS NOT NULL
                                     THEN greatest(b.gross_paise - b.approved_paise, 0)
                                     ELSE 0 END), 0) AS saved_paise
              FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
              LEFT JOIN bill_dockets d ON d.bill_id = b.id
             WHERE b.payer_id = $1 AND ($2::text IS NULL OR s.circle_id = $2)
             GROUP BY 1 ORDER BY 1""",
        payer_id,
        circle,
    )
    return [{k: int(v) if isinstance(v, Decimal) else v for k, v in dict(r).items()} for r in rows]
