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
from dataclasses import asdict, dataclass, replace
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
    by_letter: dict[str, int] | None = None
    multiple_invoices: int = 0

    def shown(self) -> dict[str, Any]:
        return asdict(self) | {"by_letter": self.by_letter or {}}


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
    """Each bill checked and put in its first queue, all in one transaction; a bill
    already here (its site and number) is left as it is."""

    async def write(conn: Connection) -> Intake:
        result = Intake(by_letter={})
        async with conn.transaction():
            sites = {
                r["site_code"]: r
                for r in await conn.fetch("SELECT * FROM payer_sites WHERE payer_id = $1", payer_id)
            }
            for bill in bills:
                outcome = await _take_one(conn, sites[bill.site_id], bill, source, tariffs, actor)
                if outcome is None:
                    result.already_in += 1
                    continue
                letter, mi = outcome
                result.taken_in += 1
                result.multiple_invoices += mi
                assert result.by_letter is not None
                result.by_letter[letter] = result.by_letter.get(letter, 0) + 1
            await audit(conn, actor, "bulk.intake", "payer", payer_id, None,
                        {"source": source} | result.shown())  # fmt: skip
        return result

    return await db.run(write)


async def _take_one(
    conn: Connection,
    site: asyncpg.Record,
    bill: Bill,
    source: str,
    tariffs: Mapping[tuple[str, str], Tariff],
    actor: str,
) -> tuple[str, bool] | None:
    if await conn.fetchval(
        "SELECT 1 FROM site_bills WHERE site_id = $1 AND bill_no = $2", site["id"], bill.bill_no
    ):
        return None
    if not bill.history:  # the site's own earlier bills here, newest first
        earlier = await conn.fetch(
            """SELECT units, current_paise, cmr FROM site_bills
                WHERE site_id = $1 AND bill_date < $2 ORDER BY bill_date DESC LIMIT $3""",
            site["id"],
            bill.bill_date,
            validation.HISTORY_MONTHS,
        )
        history = tuple(Month(r["units"], r["current_paise"], r["cmr"]) for r in earlier)
        bill = _with_history(bill, history)
    mi = bool(
        await conn.fetchval(
            """SELECT 1 FROM site_bills WHERE site_id = $1 AND bill_no <> $2
                  AND bill_date BETWEEN $3::date - $4::int AND $3::date + $4::int""",
            site["id"],
            bill.bill_no,
            bill.bill_date,
            MULTIPLE_INVOICE_DAYS,
        )
    )
    out = validation.validate(
        bill, site_of(site), tariffs.get((site["biller_id"], site["category"]))
    )
    failures = [asdict(f) for f in out.failures]
    if mi:
        failures.append({"check": "multiple_invoice", "says": "another bill of the site "
                         f"within {MULTIPLE_INVOICE_DAYS} days"})  # fmt: skip
    state = "site_incharge" if mi else out.first_approver
    checks = {"failures": failures, "obv_skipped": out.obv_skipped}
    bill_id = await conn.fetchval(
        """INSERT INTO site_bills (site_id, payer_id, bill_no, bill_date, due_date, omr, cmr,
               units, multiplying_factor, billing_type, meter_status, billing_days,
               current_paise, arrears_paise, taxes_paise, meter_rent_paise, surcharge_paise,
               tcs_paise, gross_paise, dynamic, history, source, multiple_invoice, letter,
               checks, tariff_gross_paise, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18, $19, $20::jsonb, $21::jsonb, $22, $23, $24, $25::jsonb, $26, $27)
           RETURNING id""",
        site["id"], site["payer_id"], bill.bill_no, bill.bill_date, bill.due_date, bill.omr,
        bill.cmr, bill.units, bill.multiplying_factor, bill.billing_type, bill.meter_status,
        bill.billing_days, bill.current_paise, bill.arrears_paise, bill.taxes_paise,
        bill.meter_rent_paise, bill.surcharge_paise, bill.tcs_paise, bill.gross_paise,
        json.dumps({k: str(v) for k, v in bill.dynamic.items()}),
        json.dumps([asdict(m) for m in bill.history]), source, mi, out.letter,
        json.dumps(checks), out.tariff_gross_paise, state,
    )  # fmt: skip
    if failures:
        await conn.execute(
            "INSERT INTO bill_dockets (bill_id, failures) VALUES ($1, $2::jsonb)",
            bill_id,
            json.dumps(failures),
        )
    await _milestone(conn, bill_id, "taken_in", actor, source)
    said = ", ".join(f["check"] for f in failures) or "all passed"
    await _milestone(conn, bill_id, f"checked_{out.letter}", actor, said)
    await _milestone(conn, bill_id, f"to_{state}", actor, None)
    return out.letter, mi


def _with_history(bill: Bill, history: tuple[Month, ...]) -> Bill:
    return replace(bill, history=history)


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
        "SELECT * FROM site_bills WHERE id = $1 AND payer_id = $2 FOR UPDATE", bill_id, payer_id
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
    db: Database, payer_id: str, state: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT b.*, s.site_code, s.circle_id, s.pay_category, s.biller_id,
                  s.consumer_account
             FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
            WHERE b.payer_id = $1 AND ($2::text IS NULL OR b.state = $2)
            ORDER BY b.id LIMIT $3""",
        payer_id,
        state,
        limit,
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
