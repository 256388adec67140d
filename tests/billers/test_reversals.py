"""Reversals, store-and-forward: the biller never applies what the switch gave back."""

from __future__ import annotations

import json

import pytest
import trio

from simulators.common.biller import Refused
from simulators.discom.simulator import discom_account
from switch.ledger import pay_key
from switch.pays.states import PayState
from tests.billers.conftest import World
from tests.billers.test_recovery import state_of, stuck, wallet


async def test_a_payment_reversed_before_it_arrives_is_refused_when_it_does(world: World) -> None:
    pay = await stuck(world, "LATE", PayState.SENT, applied=False)
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "not_applied_at_biller")
    assert pay.id in world.discom.tombstones
    # The original request finally reaches the biller: refused, never applied.
    with pytest.raises(Refused) as err:
        await world.discom.pay(
            {"switch_txn_id": pay.id, "account": discom_account(1, 20), "amount_paise": 150_00}
        )
    assert err.value.code == "reversed"
    assert await wallet(world) == 50_000_00 and world.discom.totals()["applied_count"] == 0


async def test_unknown_at_the_deadline_is_reversed_through_an_outage(world: World) -> None:
    async def down(req):  # type: ignore[no-untyped-def]
        return 503, b'{"error":"down"}'

    world.discom.app.raw_override = down
    pay = await stuck(world, "DEAD", PayState.UNKNOWN, applied=True)
    await world.switch.db.execute(
        "UPDATE pays SET created_at = now() - interval '1 hour' WHERE id = $1", pay.id
    )
    await world.switch.recovery.sweep_once()
    assert (await state_of(world, pay))[0] == "reversing"  # decided, durable, not yet sent
    await world.switch.db.execute("UPDATE pays SET lease_until = now() WHERE id = $1", pay.id)
    await world.switch.recovery.sweep_once(idle_s=0)
    assert (await state_of(world, pay))[0] == "reversing"  # still down: will go again
    world.discom.app.raw_override = None
    await world.switch.db.execute("UPDATE pays SET lease_until = now() WHERE id = $1", pay.id)
    await world.switch.recovery.sweep_once(idle_s=0)
    assert await state_of(world, pay) == ("voided", "unknown_at_deadline")
    # The biller had applied it; the reversal undid it there too.
    [payment] = world.discom.payments.values()
    assert payment.status == "reversed"
    assert await wallet(world) == 50_000_00


async def test_a_biller_that_will_not_reverse_gets_posted_and_a_case(world: World) -> None:
    async def irreversible(req):  # type: ignore[no-untyped-def]
        if req.path == "/v1/reversals":
            [payment] = world.discom.payments.values()
            body = {"error": "not_reversible", "biller_txn_id": payment.biller_txn_id}
            return 409, json.dumps(body).encode()
        if req.path.startswith("/v1/payments/"):
            return 503, b'{"error":"busy"}'
        return None

    world.discom.app.raw_override = irreversible
    pay = await stuck(world, "IRREV", PayState.UNKNOWN, applied=True)
    await world.switch.db.execute(
        "UPDATE pays SET created_at = now() - interval '1 hour' WHERE id = $1", pay.id
    )
    await world.switch.recovery.sweep_once()
    assert (await state_of(world, pay))[0] == "posted"
    case = await world.switch.db.fetchrow(
        "SELECT kind, state, amount_paise FROM recon_cases WHERE pay_id = $1", pay.id
    )
    assert case is not None and tuple(case) == ("success_after_reversal", "open", 150_00)
    assert await wallet(world) == 50_000_00 - 150_00


async def test_an_inquiry_in_flight_at_the_deadline_is_finished_before_reversing(
    world: World,
) -> None:
    """Regression (found by the chaos run): recovery decided "reverse" for a pay whose
    status inquiry was still in flight; the inquiry then posted it in the ledger and
    the reversal undid it at the biller. The deadline decision now waits for the
    driver and reads the stored state: the biller said applied, so it is posted."""
    inquiring, release = trio.Event(), trio.Event()

    async def slow_status(req):  # type: ignore[no-untyped-def]
        if req.path.startswith("/v1/payments/"):
            inquiring.set()
            await release.wait()
        return None

    pay = await stuck(world, "RACE", PayState.UNKNOWN, applied=True)
    await world.switch.db.execute(
        "UPDATE pays SET created_at = now() - interval '1 hour' WHERE id = $1", pay.id
    )
    world.discom.app.raw_override = slow_status
    biller = world.switch.billers["UPPCL"]
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", pay.agent_id
    )
    flow = world.switch.deps.service._flow
    async with trio.open_nursery() as nursery:
        nursery.start_soon(flow.drive, pay, biller, wallet_id)  # the driver, inquiring
        await inquiring.wait()
        nursery.start_soon(world.switch.recovery.sweep_once, 0)  # recovery, at the deadline
        await trio.sleep(0.3)
        release.set()
    assert (await state_of(world, pay))[0] == "posted"
    [payment] = world.discom.payments.values()
    assert payment.status == "applied"
    assert await wallet(world) == 50_000_00 - 150_00


async def test_a_pay_posted_in_the_ledger_before_a_crash_is_never_reversed(world: World) -> None:
    """Regression (chaos run): the driver had the biller's receipt and posted the hold,
    then its process died before recording the pay as posted. Recovery found it
    unknown past its deadline and reversed it at the biller. Now the ledger's posting
    wins: the pay is posted (with the biller's txn id, asked again), never reversed."""
    pay = await stuck(world, "CRASH", PayState.UNKNOWN, applied=True)
    await world.switch.ledger.post(pay_key(pay.terminal_id, pay.terminal_ref))
    await world.switch.db.execute(
        "UPDATE pays SET created_at = now() - interval '1 hour' WHERE id = $1", pay.id
    )
    await world.switch.recovery.sweep_once()
    assert (await state_of(world, pay))[0] == "posted"
    [payment] = world.discom.payments.values()
    assert payment.status == "applied" and pay.id not in world.discom.tombstones
    txn = await world.switch.db.fetchval("SELECT biller_txn_id FROM pays WHERE id = $1", pay.id)
    assert txn == payment.biller_txn_id
    assert await wallet(world) == 50_000_00 - 150_00
