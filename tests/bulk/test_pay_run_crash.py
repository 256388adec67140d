"""A pay run SIGKILLed in the middle, twice, with the discom simulator: the restarted
switch resumes the run, every bill of the plan ends paid or back at liability, none
is paid twice, and the payer's account, the switch's pays and the discom's books
agree payment by payment."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from simulators.discom.simulator import discom_account, generate_consumers
from switch.bulk import payers
from switch.bulk.service import BulkService
from switch.config import BulkConfig
from switch.db.database import Database
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.pays import topups
from tests.billers.test_crash_recovery import config as crash_config

BILLS = 240


def config(tmp: Path, discom_port: int) -> Path:
    """The crash-recovery test's switch, with the payers' limits refreshed quickly."""
    path = crash_config(tmp, discom_port)
    extra = f"""
[admin]
limits_refresh_s = 0.5
documents_dir = "{tmp / "documents"}"
[bulk]
pay_concurrency = 4
"""
    path.write_text(path.read_text() + extra)
    return path


def test_a_pay_run_killed_twice_pays_every_bill_once(tmp_path: Path, database_url: str) -> None:
    stack = Stack(tmp_path)
    try:
        discom = stack.start_simulator("discom", seed=1, accounts=BILLS)
        cfg = config(tmp_path, discom)
        stack.start_switch(cfg, database_url, "redis://unused")  # it migrates the schema
        trio.run(scenario, stack, cfg, database_url, discom)
    finally:
        stack.stop()


async def scenario(stack: Stack, cfg: Path, url: str, discom: int) -> None:
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        payer_id, total = await payer_with_booked_bills(db, ledger)
        await trio.sleep(1.0)  # the switch's limits refresh: the payer's own are in force
        # The plan, written as the API writes it; the restarted switch resumes the run.
        planner = BulkService(db, None, BulkConfig(), {})  # type: ignore[arg-type]
        run_id = await planner.start_run(payer_id, total, "test")
        await planner.aclose()
        discom_pid = stack.children["discom"].pid
        left_at_kill = []
        # Killed while it pays: once a third of the plan is paid, again at two thirds
        # (by the bills left, polled: a fixed sleep let a fast machine finish the run
        # before the second kill).
        for left_at_most in (BILLS * 2 // 3, BILLS // 3):
            with trio.fail_after(60):
                while (left := await bills_to_pay(db, run_id)) > left_at_most:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            left_at_kill.append(left)
            stack.kill("switch")
            await trio.to_thread.run_sync(stack.start_switch, cfg, url, "redis://unused")
        assert BILLS > left_at_kill[0] > left_at_kill[1] > 0, left_at_kill  # killed mid-run
        with trio.fail_after(90):
            while await db.fetchval(  # noqa: ASYNC110 (polls the database)
                "SELECT state <> 'done' FROM bulk_runs WHERE id = $1", run_id
            ):
                await trio.sleep(0.5)
        # Only the switch was killed: the discom is the same process, and the last switch
        # started is still serving (it did not die on its own).
        assert stack.children["discom"].pid == discom_pid
        assert stack.children["discom"].poll() is None and stack.children["switch"].poll() is None
        items = await db.fetch("SELECT * FROM bulk_run_items WHERE run_id = $1", run_id)
        assert {i["outcome"] for i in items} <= {"paid", "failed"}
        paid = [i for i in items if i["outcome"] == "paid"]
        assert len(paid) > BILLS // 2, [i["reason"] for i in items if i["outcome"] != "paid"]
        # Once per bill: one posted pay each, its reference the bill's, no other pays.
        pays = await db.fetch("SELECT * FROM pays WHERE channel = 'bulk'")
        assert len({p["terminal_ref"] for p in pays}) == len(pays)
        posted = {p["id"]: p["amount_paise"] for p in pays if p["state"] == "posted"}
        assert posted == {i["pay_id"]: i["amount_paise"] for i in paid}
        states = await db.fetch(
            "SELECT state, count(*) AS n FROM site_bills GROUP BY state ORDER BY state"
        )
        assert {r["state"] for r in states} <= {"paid", "liability"}
        assert await ledger.check_invariants() == []
        balance = (await ledger.account_by_code(f"wallet:{payer_id}")).balance_paise
        assert total - balance == sum(posted.values())  # debited exactly what was paid
        async with httpx.AsyncClient() as client:
            report = (await client.get(f"http://127.0.0.1:{discom}/v1/report?date=")).json()
        applied = {
            p["switch_txn_id"]: p["amount_paise"]
            for p in report["payments"]
            if p["status"] == "applied"
        }
        assert applied == posted  # the discom has exactly the pays the switch posted


async def bills_to_pay(db: Database, run_id: int) -> int:
    left: int = await db.fetchval(
        "SELECT count(*) FROM bulk_run_items WHERE run_id = $1 AND outcome = 'to_pay'", run_id
    )
    return left


async def payer_with_booked_bills(db: Database, ledger: Ledger) -> tuple[str, int]:
    """A payer with a site per discom consumer and a liability-booked bill each, for
    half of what the discom has due; its account funded for all of them."""
    payer = await payers.add_payer(db, ledger, "Crash Telecom", "9876500020", "test")
    payer_id = payer["id"]
    await db.execute("INSERT INTO payer_circles VALUES ($1, 'C1', 'Circle')", payer_id)
    due = {c.account: c.amount_due_paise for c in generate_consumers(1, BILLS)}
    accounts = [discom_account(1, n) for n in range(BILLS)]
    await db.execute(
        """INSERT INTO payer_sites (payer_id, circle_id, site_code, name, biller_id,
               consumer_account, meter_no, cost_centre, vendor_code, category, pay_category)
           SELECT $1, 'C1', 'S' || n, 'Site ' || n, 'UPPCL', a, 'M' || n, 'CC', 'V', 'LMV-2',
                  (ARRAY['gold', 'silver', 'bronze', 'z'])[1 + n % 4]
             FROM unnest($2::text[]) WITH ORDINALITY AS t(a, n)""",
        payer_id,
        accounts,
    )
    nets = [max(100, due[a] // 2) for a in accounts]
    await db.execute(
        """INSERT INTO site_bills (site_id, payer_id, bill_no, bill_date, due_date, units,
               current_paise, gross_paise, source, letter, checks, state, approved_paise,
               tds_paise, net_payable_paise, liability_doc)
           SELECT s.id, $1, 'B' || s.id, current_date, current_date + 10, 100, n.net, n.net,
                  'test', 'A', '{}', 'liability', n.net, 0, n.net, 'DOC' || s.id
             FROM payer_sites s JOIN unnest($2::text[], $3::bigint[]) AS n(a, net)
               ON n.a = s.consumer_account""",
        payer_id,
        accounts,
        nets,
    )
    total = sum(nets)
    wallet = await payers.payer(db, payer_id)
    assert wallet is not None
    await db.run(lambda conn: topups.top_up(
        conn, agent_id=payer_id, wallet_account_id=wallet["wallet_account_id"],
        amount_paise=total, bank_ref="CRASH0001", ceiling_paise=10**14, actor="test",
    ))  # fmt: skip
    return str(payer_id), total
