"""Pays left unfinished (as a crash leaves them) are recovered to the truth."""

from __future__ import annotations

import pytest

from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from switch.ledger import pay_key
from switch.pays.states import PayState
from switch.pays.store import NewPay, Pay, PayStore
from tests.billers.conftest import World


def store(world: World) -> PayStore:
    return world.switch.deps.service._store  # the running switch's own


async def wallet(world: World) -> int:
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", world.terminals[0].agent_id
    )
    return await world.switch.ledger.balance(wallet_id)


async def stuck(world: World, ref: str, state: PayState, *, applied: bool = False) -> Pay:
    """A pay stopped in ``state`` an hour ago, as if the switch had died there."""
    creds = world.terminals[0]
    account = discom_account(1, 20)
    pay, _ = await store(world).claim(
        NewPay(creds.terminal_id, ref, creds.agent_id, "UPPCL", account, 150_00)
    )
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    if state is not PayState.RECEIVED:
        biller = world.switch.billers["UPPCL"]
        await world.switch.ledger.reserve(
            pay_key(creds.terminal_id, ref), wallet_id, biller.payable_account_id, 150_00
        )
        pay = await store(world).move(pay, PayState.SENT)
        if applied:
            await world.discom.pay(
                {"switch_txn_id": pay.id, "account": account, "amount_paise": 150_00}
            )
        if state is PayState.UNKNOWN:
            pay = await store(world).move(pay, PayState.UNKNOWN)
    await world.switch.db.execute(  # an hour ago: its lease has long run out
        """UPDATE pays SET updated_at = now() - interval '1 hour',
                          lease_until = now() - interval '1 hour' WHERE id = $1""",
        pay.id,
    )
    return pay


async def state_of(world: World, pay: Pay) -> tuple[str, str | None]:
    row = await world.switch.db.fetchrow("SELECT state, error_code FROM pays WHERE id = $1", pay.id)
    assert row is not None
    return row["state"], row["error_code"]


@pytest.mark.parametrize("state", [PayState.SENT, PayState.UNKNOWN])
async def test_a_pay_the_biller_applied_is_posted(world: World, state: PayState) -> None:
    pay = await stuck(world, "R1", state, applied=True)
    assert await world.switch.recovery.sweep_once() == 1
    assert await state_of(world, pay) == ("posted", None)
    assert await wallet(world) == 50_000_00 - 150_00


@pytest.mark.parametrize("state", [PayState.SENT, PayState.UNKNOWN])
async def test_a_pay_the_biller_never_had_is_voided(world: World, state: PayState) -> None:
    pay = await stuck(world, "R2", state, applied=False)
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "not_applied_at_biller")
    assert await wallet(world) == 50_000_00


async def test_a_pay_that_never_reached_the_biller_expires(world: World) -> None:
    pay = await stuck(world, "R3", PayState.RECEIVED)
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "expired")
    assert await wallet(world) == 50_000_00


async def test_a_held_but_unsent_pay_expires_and_its_hold_returns(world: World) -> None:
    creds = world.terminals[0]
    pay = await stuck(world, "R4", PayState.RECEIVED)
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    await world.switch.ledger.reserve(
        pay_key(creds.terminal_id, "R4"),
        wallet_id,
        world.switch.billers["UPPCL"].payable_account_id,
        150_00,
    )
    assert await wallet(world) == 50_000_00 - 150_00
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "expired")
    assert await wallet(world) == 50_000_00


async def test_a_silent_biller_is_asked_again_later_with_backoff(world: World) -> None:
    async def silent(req):  # type: ignore[no-untyped-def]
        return (503, b'{"error":"down"}') if req.path.startswith("/v1/payments/") else None

    world.discom.app.raw_override = silent
    pay = await stuck(world, "R5", PayState.SENT, applied=True)
    assert await world.switch.recovery.sweep_once() == 1
    row = await world.switch.db.fetchrow(
        "SELECT state, attempts, lease_until > now() AS leased FROM pays WHERE id = $1", pay.id
    )
    assert row is not None and (row["state"], row["attempts"], row["leased"]) == (
        "unknown",
        1,
        True,
    )
    assert await world.switch.recovery.sweep_once(idle_s=0) == 0  # backing off
    # The biller comes back; once the lease has passed, the truth is found.
    world.discom.app.raw_override = None
    await world.switch.db.execute("UPDATE pays SET lease_until = now() WHERE id = $1", pay.id)
    assert await world.switch.recovery.sweep_once(idle_s=0) == 1
    assert await state_of(world, pay) == ("posted", None)


async def test_a_pay_leased_to_another_process_is_left_to_it(world: World) -> None:
    """A retry that lands on another switch process while the first still drives the
    pay answers "pending" and does not touch it; once the lease runs out, recovery
    (in any process) finishes it."""
    pay = await stuck(world, "OTHER", PayState.SENT, applied=True)
    await world.switch.db.execute(
        """UPDATE pays SET lease_owner = 'another-host:1:abc',
                          lease_until = now() + interval '1 hour' WHERE id = $1""",
        pay.id,
    )
    async with connect(world.terminals[0]) as conn:
        answer = await conn.request("status", ref="OTHER")
    assert answer["status"] == "pending"
    assert await world.switch.recovery.sweep_once() == 0  # not while the lease lives
    assert await state_of(world, pay) == ("sent", None)
    await world.switch.db.execute("UPDATE pays SET lease_until = now() WHERE id = $1", pay.id)
    assert await world.switch.recovery.sweep_once() == 1
    assert await state_of(world, pay) == ("posted", None)


async def test_a_hold_that_arrives_after_its_pay_expired_is_given_back(world: World) -> None:
    """A reserve that reaches the ledger after recovery expired its pay (a statement of
    a killed process, say) leaves a pending hold on a voided pay: recovery voids it."""
    creds = world.terminals[0]
    pay = await stuck(world, "ORPHAN", PayState.RECEIVED)
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "expired")
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    await world.switch.ledger.reserve(
        pay_key(creds.terminal_id, "ORPHAN"),
        wallet_id,
        world.switch.billers["UPPCL"].payable_account_id,
        150_00,
    )
    assert await wallet(world) == 50_000_00 - 150_00
    await world.switch.recovery.sweep_once(idle_s=0)
    assert await wallet(world) == 50_000_00


async def test_a_pay_applied_after_its_hold_was_voided_opens_a_case(world: World) -> None:
    """The ledger's safety net (hold_timeout_s) voided the hold of a pay still unknown,
    then the biller says it applied it: no second movement on a guess; the pay ends
    voided like its money, and a case asks finance to recover the amount."""
    pay = await stuck(world, "R9", PayState.UNKNOWN, applied=True)
    creds = world.terminals[0]
    await world.switch.ledger.void(pay_key(creds.terminal_id, "R9"))  # the net fired
    await world.switch.recovery.sweep_once()
    assert await state_of(world, pay) == ("voided", "applied_after_void")
    case = await world.switch.db.fetchrow("SELECT kind, pay_id FROM recon_cases")
    assert case is not None and tuple(case) == ("success_after_reversal", pay.id)
    assert await wallet(world) == 50_000_00  # the agent has it back; the case recovers it
    world.books_agree = False  # the biller has it too: that is what the case is for
