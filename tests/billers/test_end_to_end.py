"""A bill fetched and paid end to end: terminal -> switch -> biller (HTTP) and back,
money only through the ledger, the depositor told by SMS. Books checked after each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from simulators.discom.simulator import MAX_ADVANCE_PAISE, discom_account
from simulators.epos.connection import connect
from simulators.run import start_simulator
from simulators.water.simulator import water_account
from switch.config import BillerConfig, Config
from switch.server import running_switch
from tests.billers.conftest import World, replace_sms
from tests.helpers import one_terminal

MOBILE = "9876543210"


async def wallet(world: World, n: int = 0) -> int:
    agent = world.terminals[n].agent_id
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", agent
    )
    return await world.switch.ledger.balance(wallet_id)


async def sms_to(world: World, mobile: str, count: int) -> list[str]:
    with trio.fail_after(10):
        while True:
            bodies = [m["body"] for m in world.sms.messages.values() if m["to"] == mobile]
            if len(bodies) >= count:
                return bodies
            await trio.sleep(0.05)


async def wait_for_row(world: World, sql: str, *args: object) -> Any:
    with trio.fail_after(5):
        while (row := await world.switch.db.fetchrow(sql, *args)) is None:  # noqa: ASYNC110
            await trio.sleep(0.02)
    return row


async def test_electricity_bill_fetched_and_paid(world: World) -> None:
    account = discom_account(1, 7)
    due = world.discom.consumers[account].amount_due_paise
    async with connect(world.terminals[0]) as conn:
        bill = await conn.request("fetch_bill", biller="UPPCL", account=account)
        result = await conn.request(
            "pay",
            ref="E1",
            biller="UPPCL",
            account=account,
            amount_paise=bill["amount_paise"],
            mobile=MOBILE,
        )
    assert bill["amount_paise"] == due and bill["name"] == world.discom.consumers[account].name
    assert result["status"] == "success"
    receipt = result["receipt"]
    assert receipt["biller_txn"].startswith("EL") and receipt["account"] == account
    assert world.discom.consumers[account].amount_due_paise == 0
    assert await wallet(world) == 50_000_00 - due
    [sms] = await sms_to(world, MOBILE, 1)
    assert "received" in sms and receipt["biller_txn"] in sms


async def test_water_bill_fetched_and_paid(world: World) -> None:
    account = water_account(1, 3)
    due = world.water.consumers[account].amount_due_paise
    async with connect(world.terminals[0]) as conn:
        bill = await conn.request("fetch_bill", biller="JALSEWA", account=account)
        result = await conn.request(
            "pay", ref="W1", biller="JALSEWA", account=account, amount_paise=due
        )
    assert bill["amount_paise"] == due > 0
    assert result["status"] == "success" and result["receipt"]["biller_txn"].startswith("WT")
    assert world.water.consumers[account].amount_due_paise == 0


async def test_insufficient_wallet_balance_fails_and_reaches_no_biller(world: World) -> None:
    account = discom_account(1, 8)
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay", ref="BIG", biller="UPPCL", account=account, amount_paise=50_000_01, mobile=MOBILE
        )
    assert (result["status"], result["code"]) == ("failed", "insufficient_funds")
    assert world.discom.payments == {}
    assert await wallet(world) == 50_000_00
    [sms] = await sms_to(world, MOBILE, 1)
    assert "FAILED" in sms and "insufficient funds" in sms


async def test_unknown_consumer(world: World) -> None:
    async with connect(world.terminals[0]) as conn:
        fetched = await conn.request("fetch_bill", biller="UPPCL", account="9999999999")
        paid = await conn.request(
            "pay", ref="U1", biller="UPPCL", account="9999999999", amount_paise=100_00
        )
    assert fetched["code"] == "unknown_consumer"
    assert (paid["status"], paid["code"]) == ("failed", "unknown_consumer")
    assert await wallet(world) == 50_000_00


async def test_a_bill_already_paid_is_refused_and_refunded(world: World) -> None:
    account = discom_account(1, 9)
    due = world.discom.consumers[account].amount_due_paise
    async with connect(world.terminals[0]) as conn:
        first = await conn.request(
            "pay", ref="P1", biller="UPPCL", account=account, amount_paise=due
        )
        bill = await conn.request("fetch_bill", biller="UPPCL", account=account)
        second = await conn.request(
            "pay", ref="P2", biller="UPPCL", account=account, amount_paise=100_00, mobile=MOBILE
        )
    assert first["status"] == "success" and bill["amount_paise"] == 0
    assert (second["status"], second["code"]) == ("failed", "biller_rejected")
    assert second["biller_code"] == "bill_already_paid"
    assert await wallet(world) == 50_000_00 - due
    [sms] = await sms_to(world, MOBILE, 1)
    assert "bill already paid" in sms


async def test_partial_and_over_payment_rules(world: World) -> None:
    el, wt = discom_account(1, 10), water_account(1, 10)
    el_due = world.discom.consumers[el].amount_due_paise
    wt_due = world.water.consumers[wt].amount_due_paise
    async with connect(world.terminals[0]) as conn:
        part = await conn.request("pay", ref="A1", biller="UPPCL", account=el, amount_paise=100_00)
        # The discom keeps up to ₹10,000 above the due as advance; beyond, it refuses.
        rest = world.discom.consumers[el].amount_due_paise
        too_much = await conn.request(
            "pay", ref="A2", biller="UPPCL", account=el, amount_paise=rest + MAX_ADVANCE_PAISE + 1
        )
        advance = await conn.request(
            "pay", ref="A3", biller="UPPCL", account=el, amount_paise=rest + 500_00
        )
        bill = await conn.request("fetch_bill", biller="UPPCL", account=el)
        # The water scheme takes part of a bill but never more than is due.
        wt_over = await conn.request(
            "pay", ref="B1", biller="JALSEWA", account=wt, amount_paise=wt_due + 1
        )
        wt_part = await conn.request(
            "pay", ref="B2", biller="JALSEWA", account=wt, amount_paise=wt_due - 100
        )
    assert part["status"] == "success" and rest == el_due - 100_00
    assert (too_much["status"], too_much["code"]) == ("failed", "biller_rejected")
    assert too_much["biller_code"] == "amount_too_high"
    assert advance["status"] == "success"
    assert bill["amount_paise"] == 0 and world.discom.consumers[el].amount_due_paise == -500_00
    assert (wt_over["status"], wt_over["code"]) == ("failed", "biller_rejected")
    assert wt_over["biller_code"] == "amount_too_high"
    assert wt_part["status"] == "success" and world.water.consumers[wt].amount_due_paise == 100


async def test_the_same_pay_sent_twice_with_one_reference(world: World) -> None:
    account = discom_account(1, 11)
    async with connect(world.terminals[0]) as conn:
        first = await conn.request(
            "pay", ref="TWICE", biller="UPPCL", account=account, amount_paise=200_00
        )
        again = await conn.request(
            "pay", ref="TWICE", biller="UPPCL", account=account, amount_paise=200_00
        )
    assert first["status"] == again["status"] == "success"
    assert first["receipt"] == again["receipt"]
    assert len(world.discom.payments) == 1
    assert await wallet(world) == 50_000_00 - 200_00


async def test_the_same_reference_from_two_terminals_is_two_pays(world: World) -> None:
    account = discom_account(1, 12)
    async with connect(world.terminals[0]) as one, connect(world.terminals[1]) as two:
        a = await one.request(
            "pay", ref="SAME", biller="UPPCL", account=account, amount_paise=100_00
        )
        b = await two.request(
            "pay", ref="SAME", biller="UPPCL", account=account, amount_paise=100_00
        )
    assert a["status"] == b["status"] == "success" and a["txn"] != b["txn"]
    assert len(world.discom.payments) == 2


async def test_sms_is_retried_until_the_gateway_takes_it(world: World) -> None:
    account = discom_account(1, 13)
    refusals = {"left": 3}

    async def flaky(req):  # type: ignore[no-untyped-def]
        if req.path.startswith("/v1/sms") and refusals["left"]:
            refusals["left"] -= 1
            return 503, b'{"error":"overloaded"}'
        return None

    world.sms.app.raw_override = flaky
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay",
            ref="S1",
            biller="UPPCL",
            account=account,
            amount_paise=100_00,
            mobile="9123456780",
        )
    assert result["status"] == "success"
    [sms] = await sms_to(world, "9123456780", 1)
    assert refusals["left"] == 0 and "received" in sms
    # The gateway has it; the notifier records that right after.
    row = await wait_for_row(
        world,
        "SELECT state, attempts FROM sms_outbox WHERE pay_id = $1 AND state = 'sent'",
        result["txn"],
    )
    assert row["attempts"] == 4


@pytest.mark.parametrize("applied", [True, False])
async def test_a_biller_that_answers_garbage_is_asked_not_assumed(
    world: World, applied: bool
) -> None:
    """A garbage answer to a pay is not a failure: the outcome is unknown until the
    biller's status says. Applied: the pay is posted. Not applied: voided, refunded."""
    account = discom_account(1, 14)
    answered: list[bool] = []

    async def garbage_once(req):  # type: ignore[no-untyped-def]
        if req.path == "/v1/payments" and req.method == "POST" and not answered:
            answered.append(True)
            if applied:
                await world.discom.pay(req.body)
            return 200, b"<html>oops</html>"
        return None

    world.discom.app.raw_override = garbage_once
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay", ref="G1", biller="UPPCL", account=account, amount_paise=100_00
        )
    assert answered
    if applied:
        assert result["status"] == "success"
        assert await wallet(world) == 50_000_00 - 100_00
    else:
        assert (result["status"], result["code"]) == ("failed", "reversed")
        assert await wallet(world) == 50_000_00
    assert len(world.discom.payments) == (1 if applied else 0)


async def test_a_slow_biller_gets_the_terminal_a_pending_answer_in_time(world: World) -> None:
    account = discom_account(1, 15)

    async def slow(req):  # type: ignore[no-untyped-def]
        if req.path == "/v1/payments" and req.method == "POST":
            await trio.sleep(2)  # longer than the switch's answer deadline (1 s here)
        return None

    world.discom.app.raw_override = slow
    async with connect(world.terminals[0]) as conn:
        with trio.fail_after(1.8):
            first = await conn.request(
                "pay", ref="SLOW", biller="UPPCL", account=account, amount_paise=100_00
            )
        assert first["status"] == "pending"
        for _ in range(2):  # the pay goes on without us (pinging, as terminals do)
            await trio.sleep(0.8)
            await conn.ping()
        later = await conn.request("status", ref="SLOW")
    assert later["status"] == "success"
    assert len(world.discom.payments) == 1


async def test_a_failing_biller_trips_its_breaker_and_not_the_others(
    switch_config: Config, database_url: str, tmp_path: Path
) -> None:
    async with trio.open_nursery() as sims:
        discom, dport = await start_simulator(sims, "discom", tmp_path / "d", accounts=50)
        _, wport = await start_simulator(sims, "water", tmp_path / "w", accounts=50)
        calls: list[str] = []

        async def down(req):  # type: ignore[no-untyped-def]
            calls.append(req.path)
            return 503, b'{"error":"maintenance"}'

        discom.app.raw_override = down
        cfg = switch_config.replace(
            billers=(
                BillerConfig(
                    id="UPPCL",
                    name="UPPCL",
                    endpoint=f"http://127.0.0.1:{dport}",
                    breaker_min_calls=5,
                    breaker_open_s=1.0,
                ),
                BillerConfig(
                    id="JALSEWA", name="Jal", kind="water", endpoint=f"http://127.0.0.1:{wport}"
                ),
            )
        )
        async with running_switch(cfg, database_url) as sw:
            creds = await one_terminal(sw, 10_000_00)
            async with connect(creds) as conn:
                for i in range(5):  # five failures open the breaker
                    r = await conn.request(
                        "fetch_bill", biller="UPPCL", account=discom_account(1, i)
                    )
                    assert r["code"] == "biller_unavailable"
                seen = len(calls)
                refused = await conn.request(
                    "pay",
                    ref="X1",
                    biller="UPPCL",
                    account=discom_account(1, 1),
                    amount_paise=100_00,
                )
                water_ok = await conn.request(
                    "pay", ref="X2", biller="JALSEWA", account=water_account(1, 1), amount_paise=100
                )
                assert refused["code"] == "biller_unavailable" and len(calls) == seen  # never sent
                assert water_ok["status"] == "success"  # the other biller is unaffected
                # The biller recovers; after the cool-off a probe closes the breaker.
                discom.app.raw_override = None
                await trio.sleep(1.1)
                healed = await conn.request(
                    "pay",
                    ref="X3",
                    biller="UPPCL",
                    account=discom_account(1, 1),
                    amount_paise=100_00,
                )
                assert healed["status"] == "success"
            assert await sw.db.fetchval("SELECT count(*) FROM pays WHERE terminal_ref = 'X1'") == 0
            assert await sw.ledger.check_invariants() == []
        sims.cancel_scope.cancel()


async def test_sms_one_request_each_for_a_gateway_without_batches(
    switch_config: Config, database_url: str, tmp_path: Path
) -> None:
    """``[sms] batch_api = false``: the notifier posts each message on its own."""
    async with trio.open_nursery() as sims:
        sms, sms_port = await start_simulator(sims, "sms", tmp_path / "sms")
        cfg = replace_sms(
            switch_config,
            enabled=True,
            endpoint=f"http://127.0.0.1:{sms_port}",
            batch_api=False,
            poll_interval_s=0.05,
        )
        async with running_switch(cfg, database_url) as sw:
            creds = await one_terminal(sw, 1_000_00)
            async with connect(creds) as conn:
                for n in range(3):
                    result = await conn.request(
                        "pay",
                        ref=f"B{n}",
                        biller="UPPCL",
                        account="1234567890",
                        amount_paise=100_00,
                        mobile="9123400000",
                    )
                    assert result["status"] == "success"
            notifier = sw.notifier
            assert notifier is not None
            # Wait on the notifier's own count: the gateway records a message
            # before its answer reaches the notifier.
            with trio.fail_after(10):
                while notifier.stats.sent < 3:  # noqa: ASYNC110 (the notifier's own record)
                    await trio.sleep(0.05)
            assert len(sms.messages) == 3
            assert notifier.stats.requests == notifier.stats.sent == 3
        sims.cancel_scope.cancel()


async def test_a_batch_member_the_gateway_refuses_is_retried_alone(world: World) -> None:
    """The gateway takes a batch but refuses one message in it: that one goes again."""
    refused = {"left": 1}
    real = world.sms.app.handle

    async def refuse_first(method, target, raw, fault=None):  # type: ignore[no-untyped-def]
        status, payload, content_type = await real(method, target, raw, fault)
        if target == "/v1/sms/batch" and refused["left"]:
            refused["left"] -= 1
            body = json.loads(payload)
            first = body["results"][0]
            world.sms.messages.pop(first["id"], None)  # as if the gateway never took it
            body["results"][0] = {"id": first["id"], "error": "throttled"}
            payload = json.dumps(body).encode()
        return status, payload, content_type

    world.sms.app.handle = refuse_first  # type: ignore[method-assign]
    async with connect(world.terminals[0]) as conn:
        result = await conn.request(
            "pay",
            ref="SB1",
            biller="UPPCL",
            account=discom_account(1, 14),
            amount_paise=100_00,
            mobile="9123456781",
        )
    assert result["status"] == "success"
    [sms] = await sms_to(world, "9123456781", 1)
    row = await wait_for_row(
        world, "SELECT attempts FROM sms_outbox WHERE pay_id = $1 AND state = 'sent'", result["txn"]
    )
    assert refused["left"] == 0 and row["attempts"] == 2 and "received" in sms
