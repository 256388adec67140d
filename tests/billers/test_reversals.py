"""Reversals, store-and-forward: the biller never applies what the switch gave back."""

from __future__ import annotations

import json

import pytest

from simulators.common.biller import Refused
from simulators.discom.simulator import discom_account
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
