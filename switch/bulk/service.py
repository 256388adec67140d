"""The payer's bills after approval: the ERP's liabilities, and pay runs.

**ERP rounds.** Each bill approved at Circle Nodal L1 is booked in the payer's ERP:
a liability document number and TDS (net payable = approved amount - TDS), or an
invoice failure (IF) that sends it back to L1. Booked liabilities are asked about
again, and one the ERP has failed since (LF) goes back to L1 too.

**Pay runs.** A run takes the funds a payer allocated, orders its liability-booked
bills by priority (switch/bulk/priority.py) and records the plan: each bill to pay,
or deferred with why. Then each bill to pay is, in turn of the plan:

1. claimed under its row lock: it must still stand at ``liability`` (or at
   ``paying`` for this run, after a restart), and moves to ``paying``;
2. fetched live from its discom (the bill the pay answers), and paid its net payable
   through the terminals' own pay flow, channel ``bulk``, from the payer's account,
   with the reference ``B<bill>-<run>``: a run resumed after a crash asks for the same
   pay again, never a second one;
3. recorded: ``paid`` with its pay, or back at ``liability`` with why; a pay still
   pending is asked about again on the run's next pass.

A run ends when no bill of its plan is left to pay. Its report: paid, failed,
deferred, the sums.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

import trio

from switch.bulk import priority, store, workflow
from switch.bulk.bills import Bill
from switch.bulk.erp import Erp, ErpUnclear, ErpWord
from switch.bulk.tariffs import Tariff
from switch.config import BulkConfig
from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.pays.service import RequestFailed, TerminalContext, TerminalService
from switch.protocols.terminal.errors import ErrorCode
from switch.protocols.terminal.requests import FetchBill, PayRequest
from switch.settlement.calendar import IST

log = logging.getLogger("switch.bulk")
RETRY_LATER = (ErrorCode.BUSY, ErrorCode.UNAVAILABLE, ErrorCode.BILLER_UNAVAILABLE,
               ErrorCode.INTERNAL_ERROR)  # fmt: skip
MAX_PASSES = 20  # a run's passes over bills still pending, per drive
PASS_PAUSE_S = 0.5
QUEUE = 100  # runs kicked and not yet driven
SWEEP_S = 5.0  # how often runs still running are looked for
FETCH_LEASE_S = 1800.0  # a daily fetch claimed this long ago and not finished: redone
ME = f"{socket.gethostname()}:{os.getpid()}"


class BulkService:
    def __init__(
        self,
        db: Database,
        service: TerminalService,
        cfg: BulkConfig,
        tariffs: Mapping[tuple[str, str], Tariff],
    ) -> None:
        self._db = db
        self._service = service
        self._cfg = cfg
        self.tariffs = tariffs
        self._erp = Erp(cfg.erp_endpoint, cfg.erp_timeout_s)
        self._kicks_in, self._kicks_out = trio.open_memory_channel[int](QUEUE)

    # -- bills fetched from the billers --------------------------------------------------

    async def fetch_bills(self, payer_id: str, actor: str) -> dict[str, Any]:
        """Every site's current bill fetched from its discom (``pay_concurrency`` at
        once) and taken in with the checks, as a file's bills are. A bill already here
        is left as it is, so a round stopped half-way (a discom down, a restart) is
        simply run again: it takes in what the last one did not."""
        payer = await self._db.fetchrow(
            "SELECT id, wallet_account_id FROM agents WHERE id = $1", payer_id
        )
        assert payer is not None
        ctx = TerminalContext(payer_id, payer_id, payer["wallet_account_id"], "bulk")
        sites = await self._db.fetch(
            "SELECT site_code, biller_id, consumer_account FROM payer_sites WHERE payer_id = $1"
            " ORDER BY id",
            payer_id,
        )
        fetched: list[Bill] = []
        refused: dict[str, str] = {}
        limit = trio.CapacityLimiter(self._cfg.pay_concurrency)

        async def one(site: Any) -> None:
            async with limit:
                try:
                    bill, details = await self._service.fetch_bill_with_details(
                        ctx, FetchBill(0, site["biller_id"], site["consumer_account"], {})
                    )
                except RequestFailed as exc:
                    refused[site["site_code"]] = f"{exc.code.value}: {exc.message}"[:200]
                    return
                if bill["amount_paise"] <= 0:
                    refused[site["site_code"]] = "nothing is due"
                    return
                fetched.append(bill_of_fetch(site["site_code"], bill, details))

        async with trio.open_nursery() as nursery:
            for site in sites:
                nursery.start_soon(one, site)
        taken = await store.take_in(self._db, payer_id, fetched, "fetch", self.tariffs, actor)
        shown_refused = dict(sorted(refused.items())[:1000])
        return taken.shown() | {"sites": len(sites), "fetched": len(fetched),
                                "not_fetched": shown_refused}  # fmt: skip

    async def daily(self) -> None:
        """The daily fetch round (``[bulk] fetch_at``, India time), supervised: once the
        time has come, each active payer's sites are fetched once that day. A payer's
        day is claimed in the database first, so with several processes or nodes one
        of them fetches it; a claim that never finished (its process died) is taken
        over after ``FETCH_LEASE_S``."""
        hour, minute = (int(x) for x in self._cfg.fetch_at.split(":"))
        while True:
            now = dt.datetime.now(IST)
            if (now.hour, now.minute) >= (hour, minute):
                await self._fetch_day(now.date())
            await trio.sleep(self._cfg.fetch_check_s)

    async def _fetch_day(self, day: dt.date) -> None:
        payers = await self._db.fetch(
            "SELECT id FROM agents WHERE kind = 'payer' AND state = 'active' ORDER BY id"
        )
        for p in payers:
            claimed = await self._db.fetchval(
                """INSERT INTO bulk_fetch_days (payer_id, day, claimed_by) VALUES ($1, $2, $3)
                   ON CONFLICT (payer_id, day) DO UPDATE
                      SET claimed_by = EXCLUDED.claimed_by, claimed_at = now()
                    WHERE bulk_fetch_days.finished_at IS NULL
                      AND bulk_fetch_days.claimed_at < now() - make_interval(secs => $4::float8)
                   RETURNING true""",
                p["id"],
                day,
                ME,
                FETCH_LEASE_S,
            )
            if not claimed:
                continue
            said = await self.fetch_bills(p["id"], "daily-fetch")
            await self._db.execute(
                """UPDATE bulk_fetch_days SET finished_at = now(), taken_in = $3
                    WHERE payer_id = $1 AND day = $2""",
                p["id"],
                day,
                said["taken_in"],
            )
            log.info("daily fetch %s: %d sites, %d bills taken in", p["id"], said["sites"],
                     said["taken_in"])  # fmt: skip

    # -- the ERP ----------------------------------------------------------------------

    async def erp_round(self, payer_id: str) -> dict[str, int]:
        """Book every bill waiting for the ERP, and look again at booked liabilities."""
        said: dict[str, int] = {}
        waiting = await self._db.fetch(
            """SELECT b.id, b.bill_no, b.approved_paise, s.consumer_account, s.meter_no,
                      s.cost_centre, s.vendor_code
                 FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
                WHERE b.payer_id = $1 AND b.state = 'erp' ORDER BY b.id LIMIT $2""",
            payer_id,
            self._cfg.max_bills_per_step,
        )
        for b in waiting:
            invoice = {
                "invoice_id": str(b["id"]),
                "consumer_account": b["consumer_account"],
                "meter_no": b["meter_no"],
                "cost_centre": b["cost_centre"],
                "vendor_code": b["vendor_code"],
                "bill_no": b["bill_no"],
                "gross_paise": b["approved_paise"],
            }
            try:
                word = await self._erp.book(invoice)
            except ErpUnclear as exc:
                log.warning("ERP: %s", exc)
                said["unclear"] = said.get("unclear", 0) + 1
                continue
            outcome = await self._apply(payer_id, b["id"], word)
            said[outcome] = said.get(outcome, 0) + 1
        booked = await self._db.fetch(
            "SELECT id FROM site_bills WHERE payer_id = $1 AND state = 'liability'"
            " ORDER BY id LIMIT $2",
            payer_id,
            self._cfg.max_bills_per_step,
        )
        for b in booked:
            try:
                word = await self._erp.status(str(b["id"]))
            except ErpUnclear as exc:
                log.warning("ERP: %s", exc)
                continue
            if word.status == "liability_failure":
                outcome = await self._apply(payer_id, b["id"], word)
                said[outcome] = said.get(outcome, 0) + 1
        return said

    async def _apply(self, payer_id: str, bill_id: int, word: ErpWord) -> str:
        action = {"posted": "liability"}.get(word.status, word.status)
        d = store.Decision(action, workflow.SYSTEM, "erp", reason=word.reason,
                           liability_doc=word.document_no, tds_paise=word.tds_paise)  # fmt: skip
        said = (await store.decide(self._db, payer_id, [bill_id], d))[bill_id]
        return action if said == "ok" else "unchanged"

    # -- pay runs ---------------------------------------------------------------------

    async def start_run(self, payer_id: str, funds_paise: int, actor: str) -> int:
        """A run's plan, recorded in one transaction; then it is driven (``kick``)."""

        async def write(conn: Connection) -> int:
            async with conn.transaction():
                rows = await conn.fetch(
                    """SELECT b.id, b.due_date, b.net_payable_paise, s.pay_category
                         FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
                        WHERE b.payer_id = $1 AND b.state = 'liability'
                          AND b.net_payable_paise > 0
                        FOR UPDATE OF b""",
                    payer_id,
                )
                bills = [
                    priority.Candidate(r["id"], r["pay_category"], r["due_date"],
                                       r["net_payable_paise"])
                    for r in rows
                ]  # fmt: skip
                plan = priority.plan(bills, funds_paise)
                run_id = await conn.fetchval(
                    "INSERT INTO bulk_runs (payer_id, funds_paise, started_by)"
                    " VALUES ($1, $2, $3) RETURNING id",
                    payer_id,
                    funds_paise,
                    actor,
                )
                items: list[tuple[priority.Candidate, str, str | None]]
                items = [(c, "to_pay", None) for c in plan.paid]
                items += [(c, "deferred", why) for c, why in plan.deferred]
                items.sort(key=lambda item: item[0].order)
                await conn.executemany(
                    """INSERT INTO bulk_run_items (run_id, bill_id, position, amount_paise,
                                                   outcome, reason)
                       VALUES ($1, $2, $3, $4, $5, $6)""",
                    [(run_id, c.bill_id, n, c.amount_paise, outcome, why)
                     for n, (c, outcome, why) in enumerate(items)],
                )  # fmt: skip
                shown = {"run": run_id, "funds_paise": funds_paise, "to_pay": len(plan.paid),
                         "total_paise": plan.total_paise}  # fmt: skip
                await audit(conn, actor, "bulk.run", "payer", payer_id, None, shown)
                return int(run_id)

        return await self._db.run(write)

    def kick(self, run_id: int) -> None:
        try:
            self._kicks_in.send_nowait(run_id)
        except trio.WouldBlock:
            log.warning("pay run %d: the queue is full; it is driven on the next start", run_id)

    async def run(self) -> None:
        """Drive runs one at a time: a kicked one at once; and every ``SWEEP_S`` any
        run still running (one a restart interrupted, one the command line planned,
        one whose kick found the queue full)."""
        while True:
            for r in await self._db.fetch(
                "SELECT id FROM bulk_runs WHERE state = 'running' ORDER BY id LIMIT $1", QUEUE
            ):
                await self._drive_logged(r["id"])
            with trio.move_on_after(SWEEP_S):
                while True:  # kicked runs at once, until a sweep is due
                    await self._drive_logged(await self._kicks_out.receive())

    async def _drive_logged(self, run_id: int) -> None:
        try:
            await self.drive(run_id)
        except Exception:  # one run's fault never stops the next
            log.exception("pay run %d", run_id)

    async def drive(self, run_id: int) -> dict[str, Any]:
        run = await self._db.fetchrow("SELECT * FROM bulk_runs WHERE id = $1", run_id)
        assert run is not None
        payer = await self._db.fetchrow(
            "SELECT id, wallet_account_id FROM agents WHERE id = $1", run["payer_id"]
        )
        assert payer is not None
        ctx = TerminalContext(payer["id"], payer["id"], payer["wallet_account_id"], "bulk")
        for _ in range(MAX_PASSES):
            left = await self._db.fetch(
                """SELECT bill_id FROM bulk_run_items WHERE run_id = $1 AND outcome = 'to_pay'
                    ORDER BY position""",
                run_id,
            )
            if not left:
                await self._db.execute(
                    "UPDATE bulk_runs SET state = 'done', finished_at = now()"
                    " WHERE id = $1 AND state = 'running'",
                    run_id,
                )
                break
            limit = trio.CapacityLimiter(self._cfg.pay_concurrency)
            async with trio.open_nursery() as nursery:
                for item in left:
                    nursery.start_soon(self._pay_one, ctx, run_id, item["bill_id"], limit)
            await trio.sleep(PASS_PAUSE_S)
        return await report(self._db, run_id)

    async def _pay_one(
        self, ctx: TerminalContext, run_id: int, bill_id: int, limit: trio.CapacityLimiter
    ) -> None:
        async with limit:
            bill = await self._claim(ctx.agent_id, run_id, bill_id)
            if bill is None:
                return
            try:
                fetched = await self._service.fetch_bill(
                    ctx, FetchBill(0, bill["biller_id"], bill["consumer_account"], {})
                )
                if fetched.get("amount_paise", 0) <= 0:
                    await self._unpaid(
                        ctx.agent_id, run_id, bill_id, "the discom says nothing is due"
                    )
                    return
                request = PayRequest(
                    0, f"B{bill_id}-{run_id}", bill["biller_id"], bill["consumer_account"],
                    bill["net_payable_paise"], None, {}, fetched.get("bill_ref"),
                )  # fmt: skip
                result = await self._service.pay(ctx, request)
            except RequestFailed as exc:
                if exc.code not in RETRY_LATER:
                    await self._unpaid(
                        ctx.agent_id, run_id, bill_id, f"{exc.code.value}: {exc.message}"
                    )
                return  # busy or unreachable: the next pass asks again
            if result["status"] == "success":
                await self._paid(ctx.agent_id, run_id, bill_id, int(result["txn"]))
            elif result["status"] != "pending":
                why = str(result.get("code", "failed"))
                if result.get("biller_code"):
                    why += f": the discom says {result['biller_code']}"
                await self._unpaid(ctx.agent_id, run_id, bill_id, why)

    async def _claim(self, payer_id: str, run_id: int, bill_id: int) -> dict[str, Any] | None:
        """Rule 1: the bill moves to paying (or already is, for this run)."""

        async def write(conn: Connection) -> dict[str, Any] | None:
            async with conn.transaction():
                bill = await conn.fetchrow(
                    """SELECT b.state, b.net_payable_paise, s.biller_id, s.consumer_account
                         FROM site_bills b JOIN payer_sites s ON s.id = b.site_id
                        WHERE b.id = $1 FOR UPDATE OF b""",
                    bill_id,
                )
                assert bill is not None
                if bill["state"] == "liability":
                    d = store.Decision("pay", workflow.SYSTEM, f"run:{run_id}",
                                       reason=None)  # fmt: skip
                    await store.step_one(conn, payer_id, bill_id, d)
                elif bill["state"] != "paying":
                    await _item(conn, run_id, bill_id, "failed",
                                f"no longer payable: {bill['state']}")  # fmt: skip
                    return None
                return dict(bill)

        return await self._db.run(write)

    async def _paid(self, payer_id: str, run_id: int, bill_id: int, pay_id: int) -> None:
        async def write(conn: Connection) -> None:
            async with conn.transaction():
                said = await store.step_one(
                    conn,
                    payer_id,
                    bill_id,
                    store.Decision("paid", workflow.SYSTEM, f"run:{run_id}"),
                )
                assert said == "ok", said
                await conn.execute(
                    "UPDATE site_bills SET pay_id = $2 WHERE id = $1", bill_id, pay_id
                )
                await _item(conn, run_id, bill_id, "paid", None, pay_id)

        await self._db.run(write)

    async def _unpaid(self, payer_id: str, run_id: int, bill_id: int, why: str) -> None:
        async def write(conn: Connection) -> None:
            async with conn.transaction():
                d = store.Decision("unpaid", workflow.SYSTEM, f"run:{run_id}", reason=why)
                await store.step_one(conn, payer_id, bill_id, d)
                await _item(conn, run_id, bill_id, "failed", why)

        await self._db.run(write)

    async def aclose(self) -> None:
        await self._erp.aclose()


def bill_of_fetch(site_code: str, bill: dict[str, Any], details: Mapping[str, Any]) -> Bill:
    """A fetched bill as the checks read it. A discom's fetch carries the readings,
    units and amounts it has; what it lacks stays missing (no billing days: the tariff
    check is skipped; no readings: the meter is taken as faulty), never guessed."""

    def whole(name: str) -> int | None:
        value = details.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    due = dt.date.fromisoformat(bill["due_date"])
    current = whole("current_amount_paise")
    arrears = whole("arrears_paise") or 0
    return Bill(
        site_id=site_code,
        bill_no=str(bill.get("bill_number") or f"{site_code}/{due.isoformat()}")[:40],
        bill_date=min(dt.date.today(), due),
        due_date=due,
        units=whole("units") or 0,
        current_paise=current if current is not None else max(0, bill["amount_paise"] - arrears),
        omr=whole("omr"),
        cmr=whole("cmr"),
        arrears_paise=arrears,
        billing_days=whole("billing_days"),
    )


async def _item(
    conn: Connection, run_id: int, bill_id: int, outcome: str, reason: str | None,
    pay_id: int | None = None,
) -> None:  # fmt: skip
    await conn.execute(
        """UPDATE bulk_run_items SET outcome = $3, reason = $4, pay_id = $5
            WHERE run_id = $1 AND bill_id = $2 AND outcome = 'to_pay'""",
        run_id, bill_id, outcome, reason, pay_id,
    )  # fmt: skip


async def report(db: Database, run_id: int) -> dict[str, Any]:
    run = await db.fetchrow("SELECT * FROM bulk_runs WHERE id = $1", run_id)
    if run is None:
        return {}
    counts = await db.fetch(
        """SELECT outcome, count(*) AS n, coalesce(sum(amount_paise), 0) AS paise
             FROM bulk_run_items WHERE run_id = $1 GROUP BY outcome""",
        run_id,
    )
    by = {r["outcome"]: {"bills": r["n"], "paise": int(r["paise"])} for r in counts}
    items = await db.fetch(
        """SELECT bill_id, position, amount_paise, outcome, reason, pay_id
             FROM bulk_run_items WHERE run_id = $1 ORDER BY position""",
        run_id,
    )
    return {
        "run": run_id,
        "payer_id": run["payer_id"],
        "state": run["state"],
        "funds_paise": run["funds_paise"],
        "outcomes": by,
        "paid_paise": by.get("paid", {}).get("paise", 0),
        "items": [dict(i) for i in items],
    }
