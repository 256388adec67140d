"""Reconciliation against a real biller's daily report: every kind of break produced on
purpose (with the simulators' book faults), found, and resolved through the ledger;
then the day settles with the resolutions netted in, and the books balance."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import asyncpg
import httpx
import pytest
import trio

from simulators.common.faults import Fault
from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from switch.admin.auth import Auth
from switch.admin.users import create_user
from switch.config import AdminConfig, BillerConfig, SettlementConfig
from switch.pays.states import PayState
from switch.protocols.billers.base import BillerUnavailable
from switch.settlement import cases
from switch.settlement.amounts import commission_paise
from switch.settlement.calendar import Calendar
from switch.settlement.cases import CaseError
from switch.settlement.recon import Reconciler, report_connector
from switch.settlement.service import Settlement
from tests.admin.conftest import MOBILE, PASSWORD
from tests.billers.conftest import World
from tests.billers.test_recovery import state_of, stuck, wallet
from tests.settlement.conftest import balance, calendar_cut_at, db_now

FORGOTTEN, SKEWED, NORMAL = 111_00, 222_00, 100_00
UNPAID = BillerConfig(id="UPPCL", connector="stub")  # as the world configures it: no commission
SKEW = 5_00


def fault(world: World, **spec: object) -> None:
    world.discom.faults.set(Fault.parse(spec))


async def pay(world: World, ref: str, n: int, amount: int) -> int:
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay", ref=ref, biller="UPPCL", account=discom_account(1, n), amount_paise=amount
        )
    assert result["status"] == "success", result
    return int(result["txn"])


async def broken_day(world: World) -> dict[str, int]:
    """Two good pays and one of each break; returns the switch txn ids by kind."""
    world.books_agree = False
    ids = {"good1": await pay(world, "G1", 1, NORMAL), "good2": await pay(world, "G2", 2, NORMAL)}
    fault(world, op="pay", kind="forget_payment", count=1)
    ids["missing_at_biller"] = await pay(world, "FORGET", 3, FORGOTTEN)
    fault(world, op="pay", kind="skew_amount", count=1, skew_paise=SKEW)
    ids["amount_mismatch"] = await pay(world, "SKEW", 4, SKEWED)
    # Unknown at its deadline, reversed; the biller acknowledges but keeps it applied.
    fault(world, op="status", kind="error_5xx")
    fault(world, op="reversal", kind="ignore_reversal")
    late = await stuck(world, "LATE", PayState.UNKNOWN, applied=True)
    await world.switch.db.execute(
        "UPDATE pays SET created_at = now() - interval '1 hour' WHERE id = $1", late.id
    )
    await world.switch.recovery.sweep_once()
    assert await state_of(world, late) == ("voided", "unknown_at_deadline")
    ids["success_after_reversal"] = late.id
    world.discom.faults.clear()
    # A payment the biller applied that the switch never made.
    await world.discom.pay(
        {"switch_txn_id": 987_654_321, "account": discom_account(1, 9), "amount_paise": 77_00}
    )
    return ids


def reconciler(world: World, cal: Calendar) -> Reconciler:
    uppcl = BillerConfig(
        id="UPPCL", endpoint=f"http://127.0.0.1:{world.ports['discom']}", commission_bps=50
    )
    return Reconciler(world.switch.db, cal, {"UPPCL": report_connector(uppcl, SettlementConfig())})


async def today(world: World) -> tuple[Calendar, dt.date, dt.datetime]:
    cut = await db_now(world.switch) + dt.timedelta(seconds=1)
    cal = calendar_cut_at(cut)
    return cal, cal.business_date(cut - dt.timedelta(seconds=2)), cut


async def test_every_kind_of_break_is_found_once(world: World) -> None:
    ids = await broken_day(world)
    cal, day, _ = await today(world)
    summary = await reconciler(world, cal).run("UPPCL", day)
    assert summary.matched == 2
    assert summary.breaks == {
        "missing_at_biller": 1,
        "missing_at_switch": 1,
        "amount_mismatch": 1,
        "success_after_reversal": 1,
    }
    assert summary.new_cases == 4
    found = {c["kind"]: c for c in await cases.list_cases(world.switch.db)}
    for kind in ("missing_at_biller", "amount_mismatch", "success_after_reversal"):
        assert found[kind]["pay_id"] == ids[kind] and found[kind]["state"] == "open"
    assert found["amount_mismatch"]["amount_paise"] == SKEW
    assert found["amount_mismatch"]["biller_amount_paise"] == SKEWED - SKEW
    assert found["missing_at_switch"]["pay_id"] is None
    assert found["missing_at_switch"]["amount_paise"] == 77_00
    assert found["missing_at_biller"]["suggested_action"].startswith("refund_agent")
    # Running it again finds the same breaks and opens no second case.
    again = await reconciler(world, cal).run("UPPCL", day)
    assert again.breaks == summary.breaks and again.new_cases == 0
    assert len(await cases.list_cases(world.switch.db, state=None)) == 4


async def test_each_break_resolved_through_the_ledger_then_netted_at_settlement(
    world: World, tmp_path: Path
) -> None:
    """The day settles (commission and fee paid on every posted pay), reconciliation
    finds the breaks, each is resolved, and the next day's settlement nets them: in
    the end every party stands as if each payment had gone right the first time."""
    await broken_day(world)
    cal, day, cut = await today(world)
    db = world.switch.db
    uppcl = BillerConfig(id="UPPCL", connector="stub", commission_bps=50, fee_paise=100)
    settlement = Settlement(db, [uppcl], SettlementConfig(close_grace_s=0), tmp_path, cal)
    w1 = await settlement.close("UPPCL", day, now=cut)
    assert w1.gross_paise == 2 * NORMAL + FORGOTTEN + SKEWED
    await reconciler(world, cal).run("UPPCL", day)
    found = {c["kind"]: c["id"] for c in await cases.list_cases(db)}
    start, fees = await wallet(world), await balance(world.switch, "system:fee_income")

    async def resolve(kind: str, action: str, actor: str, note: str) -> cases.Resolved:
        return await cases.resolve(db, found[kind], action, actor, note, [uppcl])

    # Missing at the biller: the agent gets its money back less the commission it was
    # paid on it; the switch gives back its fee; the biller owes what it was paid.
    c, f = commission_paise(FORGOTTEN, 50), 100
    done = await resolve("missing_at_biller", "refund_agent", "finance1", "not kept")
    assert done.plan.wallet_change_paise == FORGOTTEN - c
    assert await wallet(world) == start + FORGOTTEN - c
    assert await balance(world.switch, "system:fee_income") == fees - f
    assert await balance(world.switch, "receivable:UPPCL") == -(FORGOTTEN - c - f)
    # The biller kept less than paid: only a refund of the difference fits, less the
    # commission on the part it did not keep.
    with pytest.raises(CaseError, match="kept less"):
        await resolve("amount_mismatch", "force_post", "finance1", "x")
    done = await resolve("amount_mismatch", "refund_agent", "finance1", "short")
    withheld = commission_paise(SKEWED, 50) - commission_paise(SKEWED - SKEW, 50)
    assert done.plan.wallet_change_paise == SKEW - withheld
    owed = FORGOTTEN - c - f + SKEW - withheld
    assert await balance(world.switch, "receivable:UPPCL") == -owed
    # Applied after we reversed: the agent is charged again and earns its commission;
    # the biller's next settlement pays it the rest.
    payable_before = await balance(world.switch, "biller:UPPCL")
    done = await resolve("success_after_reversal", "force_post", "ops2", "applied")
    late_c, late_f = commission_paise(150_00, 50), 100
    assert done.plan.wallet_change_paise == -150_00 + late_c
    assert await balance(world.switch, "biller:UPPCL") == payable_before + 150_00 - late_c - late_f
    # No pay at the switch: nobody to charge; settled with the biller outside.
    with pytest.raises(CaseError, match="no agent"):
        await resolve("missing_at_switch", "force_post", "ops2", "x")
    await resolve("missing_at_switch", "no_money", "ops2", "biller to reverse")
    with pytest.raises(CaseError, match="already resolved"):
        await resolve("missing_at_switch", "no_money", "ops2", "again")
    assert await cases.list_cases(db) == []
    assert await wallet(world) == start + FORGOTTEN - c + SKEW - withheld - 150_00 + late_c

    # Four audit entries, with before and after, that nothing can change or remove.
    audit = await db.fetch("SELECT actor, action, before, after FROM audit_log ORDER BY id")
    assert [a["actor"] for a in audit] == ["finance1", "finance1", "ops2", "ops2"]
    assert all('"open"' in a["before"] and '"resolved"' in a["after"] for a in audit)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await db.execute(sql)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="never changes"):
        await db.execute("UPDATE recon_cases SET note = 'rewritten'")

    # The next day settles: the force-post is paid out, the refunds are recovered.
    with trio.fail_after(5):  # (the first day was closed at its cut-off ahead of time)
        while await db_now(world.switch) <= cut:  # noqa: ASYNC110 (the database's clock)
            await trio.sleep(0.05)
    await pay(world, "N1", 5, NORMAL)
    await pay(world, "N2", 6, NORMAL)
    day2 = cal.next_business_day(day)
    w2 = await settlement.close("UPPCL", day2, now=cal.window(day2).ends_at)
    assert w2.gross_paise == 2 * NORMAL
    assert (w2.adjust_in_paise, w2.recovered_paise) == (150_00 - late_c - late_f, owed)
    assert await balance(world.switch, "receivable:UPPCL") == 0
    assert await balance(world.switch, "biller:UPPCL") == 0
    lines = (tmp_path / "UPPCL" / f"UPPCL_{day2.isoformat()}.csv").read_text().splitlines()
    assert [ln.split(",")[2] for ln in lines if ln.startswith("A,")] == [
        "refund",
        "refund",
        "force_post",
    ]
    assert await world.switch.ledger.check_invariants() == []


async def test_a_refund_waits_for_the_pay_s_window_to_settle(world: World) -> None:
    """Reconciled before settlement (an operator's `recon run --date`): the refund is
    refused until settlement has paid on the pay, so it can be undone exactly. A
    biller no longer configured: money moves only with its terms; no_money still
    closes the case."""
    await broken_day(world)
    cal, day, _ = await today(world)
    await reconciler(world, cal).run("UPPCL", day)
    [case] = [
        c for c in await cases.list_cases(world.switch.db) if c["kind"] == "missing_at_biller"
    ]
    with pytest.raises(CaseError, match="not settled yet"):
        await cases.resolve(world.switch.db, case["id"], "refund_agent", "fin", "x", [UNPAID])
    assert (await cases.list_cases(world.switch.db))[0]["state"] == "open"
    with pytest.raises(CaseError, match="not configured"):  # no terms to reckon with
        await cases.resolve(world.switch.db, case["id"], "refund_agent", "fin", "x", [])
    done = await cases.resolve(world.switch.db, case["id"], "no_money", "fin", "gone", [])
    assert done.case["state"] == "resolved" and done.plan.wallet_change_paise == 0


async def test_a_report_that_cannot_be_read_records_nothing(world: World) -> None:
    async def garbage(req):  # type: ignore[no-untyped-def]
        if req.path == "/v1/report":
            return 200, b'{"payments": [{"switch_txn_id": "seven"}]}'
        return None

    await pay(world, "R1", 1, NORMAL)
    cal, day, _ = await today(world)
    world.discom.app.raw_override = garbage
    with pytest.raises(BillerUnavailable, match="bad line"):
        await reconciler(world, cal).run("UPPCL", day)
    assert await world.switch.db.fetchval("SELECT count(*) FROM recon_runs") == 0
    world.discom.app.raw_override = None
    summary = await reconciler(world, cal).run("UPPCL", day)
    assert summary.matched == 1 and sum(summary.breaks.values()) == 0


async def test_settled_days_are_reconciled_by_the_switch_itself(
    world: World, tmp_path: Path
) -> None:
    await pay(world, "P1", 1, NORMAL)
    cal, day, cut = await today(world)
    uppcl = BillerConfig(
        id="UPPCL", endpoint=f"http://127.0.0.1:{world.ports['discom']}", commission_bps=50
    )
    jal = dataclasses.replace(uppcl, id="JALSEWA", endpoint="http://127.0.0.1:1")  # down
    connectors = {
        b.id: report_connector(b, SettlementConfig(report_timeout_s=2)) for b in (uppcl, jal)
    }
    s = Settlement(
        world.switch.db,
        [uppcl, jal],
        SettlementConfig(close_grace_s=0),
        tmp_path,
        cal,
        reconciler_for=lambda c: Reconciler(world.switch.db, c, connectors),
    )
    settled = await s.close_due(now=cut)
    assert {w.biller_id for w in settled} == {"UPPCL"}  # JALSEWA had no pays
    [done] = await s.reconcile_pending()
    assert (done.biller_id, done.business_date, done.matched) == ("UPPCL", day, 1)
    assert await s.reconcile_pending() == []  # nothing left to do


async def test_finance_works_the_cases_through_the_admin_api(world: World, tmp_path: Path) -> None:
    """The same cases as above, listed and resolved over HTTP by a finance login: the
    money moves through the ledger, the audit log names the login, and a resolution
    that does not fit the case is refused with the reason."""
    await broken_day(world)
    cal, day, cut = await today(world)
    sw = world.switch
    await Settlement(sw.db, [UNPAID], SettlementConfig(close_grace_s=0), tmp_path, cal).close(
        "UPPCL", day, now=cut
    )
    await reconciler(world, cal).run("UPPCL", day)
    fast = AdminConfig(argon2_time_cost=1, argon2_memory_kib=8192)
    await create_user(sw.db, Auth(sw.db, fast), "test", "fin1", "finance", MOBILE, PASSWORD)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sw.admin_port}", timeout=30) as http:
        r = await http.post("/v1/auth/login", json={"username": "fin1", "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        first = (await http.get("/v1/recon/cases", params={"limit": 3})).json()
        rest = (await http.get("/v1/recon/cases", params={"after": first["next"]})).json()
        assert len(first["items"]) == 3 and len(rest["items"]) == 1 and rest["next"] is None
        found = {c["kind"]: c["id"] for c in first["items"] + rest["items"]}
        start = await wallet(world)

        async def resolve(kind: str, resolution: str) -> httpx.Response:
            return await http.post(
                f"/v1/recon/cases/{found[kind]}/resolve",
                json={"resolution": resolution, "note": f"{kind}: checked with UPPCL"},
            )

        r = await resolve("missing_at_biller", "refund_agent")
        assert r.status_code == 200, r.text
        money = r.json()["money"]
        assert money["wallet_change_paise"] == money["refund_paise"] == FORGOTTEN
        assert r.json()["resolved_by"] == "fin1"
        assert await wallet(world) == start + FORGOTTEN
        again = await resolve("missing_at_biller", "refund_agent")
        assert again.status_code == 409 and "already resolved" in again.json()["error"]["message"]
        wrong = await resolve("amount_mismatch", "force_post")
        assert wrong.status_code == 409 and "kept less" in wrong.json()["error"]["message"]
        nothing = (await resolve("missing_at_switch", "no_money")).json()["money"]
        assert nothing["wallet_change_paise"] == 0 and nothing["adjustment_kind"] is None
        assert await wallet(world) == start + FORGOTTEN  # nothing else moved
        case = (await http.get(f"/v1/recon/cases/{found['missing_at_switch']}")).json()
        assert case["state"] == "resolved" and case["resolution"] == "no_money"
        still_open = (await http.get("/v1/recon/cases")).json()["items"]
        assert {c["kind"] for c in still_open} == {"amount_mismatch", "success_after_reversal"}
        bad = await http.post(
            f"/v1/recon/cases/{found['amount_mismatch']}/resolve",
            json={"resolution": "write_off", "note": ""},
        )
        assert bad.status_code == 422
        assert set(bad.json()["error"]["fields"]) == {"resolution", "note"}
    actors = await sw.db.fetch("SELECT actor FROM audit_log WHERE action = 'recon.resolve'")
    assert [a["actor"] for a in actors] == ["fin1", "fin1"]
