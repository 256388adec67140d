"""Money under the faults that once lost or doubled it: each test makes the fault the
way it was seen, then checks every paisa (the world's fixture checks the ledger's
invariants, pay against hold, and the switch's books against each biller's)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import asyncpg
import pytest
import trio

from simulators.common.faults import Fault
from simulators.discom.simulator import discom_account
from simulators.epos.connection import EposConnection, connect
from switch.config import Config
from switch.db.database import Database
from tests.billers.conftest import World

AMOUNT = 200_00
LEDGER_LOCK = 7460001  # ledger_apply's advisory lock: holding it stalls every batch


@pytest.fixture
def switch_config(switch_config: Config) -> Config:
    """Quick recovery (as the chaos run has it) and a biller deadline below it."""
    pays = dataclasses.replace(
        switch_config.pays,
        recovery_idle_s=1.0,
        recovery_interval_s=0.2,
        inquiry_backoff_base_s=0.1,
        inquiry_backoff_max_s=0.5,
        unknown_deadline_s=4.0,
    )
    return switch_config.replace(pays=pays)


@pytest.fixture
def biller_timeout_s() -> float:
    return 0.4  # a lost reply is seen as one well within recovery's 1 s


async def wallet(world: World, n: int = 0) -> int:
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", world.terminals[n].agent_id
    )
    return await world.switch.ledger.balance(wallet_id)


async def final(conn: EposConnection, ref: str, within_s: float = 20) -> dict[str, Any]:
    with trio.fail_after(within_s):
        while True:
            answer = await conn.request("status", ref=ref)
            if answer.get("status") in ("success", "failed"):
                return answer
            await trio.sleep(0.2)


async def hold(world: World, sql: str, seconds: float, task_status: trio.TaskStatus[None]) -> None:
    """Run ``sql`` in a transaction of its own and keep it open ``seconds``
    (started once the statement has run)."""
    taken: list[bool] = []

    async def run(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute(sql)
            taken.append(True)
            await asyncio.sleep(seconds)

    async with Database.open(world.switch.db.url, 1) as db, trio.open_nursery() as nursery:
        nursery.start_soon(db.run, run)
        while not taken:  # noqa: ASYNC110 (progress on the asyncio side)
            await trio.sleep(0.01)
        task_status.started()


def applied(world: World) -> list[Any]:
    return [p for p in world.discom.payments.values() if p.status == "applied"]


async def test_recovery_never_cancels_a_pay_that_a_stalled_driver_sent(world: World) -> None:
    """The ledger stalls longer than recovery_idle_s while 8 pays arrive; the biller
    applies each but loses the reply, and fails the first inquiry. Recovery leases
    the pays (still 'received' to the database) and waits for their drivers; when it
    gets them they are at the biller: it must drive them, never void their holds."""
    faults = world.discom.faults
    faults.set(Fault.parse({"op": "pay", "kind": "lose_reply", "count": 8}))
    faults.set(Fault.parse({"op": "status", "kind": "error_5xx", "count": 8}))
    before = await wallet(world)
    # Recovery (idle 1 s) leases the pays while the ledger is stalled.
    stall = f"SELECT pg_advisory_xact_lock({LEDGER_LOCK})"
    async with (
        connect(world.terminals[0]) as conn,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(hold, world, stall, 3.0)
        for n in range(8):
            nursery.start_soon(
                lambda n=n: conn.request(
                    "pay",
                    ref=f"S{n}",
                    biller="UPPCL",
                    account=discom_account(1, 40 + n),
                    amount_paise=AMOUNT,
                )
            )
        await trio.sleep(2.5)
        leased = await world.switch.db.fetchval(
            "SELECT count(*) FROM pays WHERE attempts > 0 AND terminal_ref LIKE 'S%'"
        )
    async with connect(world.terminals[0]) as conn:
        answers = [await final(conn, f"S{n}") for n in range(8)]
    assert leased >= 1, "recovery did not race the drivers: the test proves nothing"
    assert [a["status"] for a in answers] == ["success"] * 8
    assert len(applied(world)) == 8
    assert await wallet(world) == before - 8 * AMOUNT


async def test_copies_of_one_pay_count_once_against_the_day_limit(world: World) -> None:
    """Eight copies of one pay at once (a terminal retrying while the first is in
    flight) are one pay: one debit, one count against the day, the same answer."""
    creds = world.terminals[0]
    await world.switch.db.execute(
        """INSERT INTO wallet_limits (agent_id, max_balance_paise, per_txn_paise,
                                      per_day_paise, updated_by)
           VALUES ($1, 1000000000, 100000, $2, 'test')""",
        creds.agent_id,
        2 * AMOUNT,
    )
    await world.switch.policy.refresh()
    fields = {"biller": "UPPCL", "account": discom_account(1, 50), "amount_paise": AMOUNT}
    answers: list[dict[str, Any]] = []
    async with connect(creds) as conn, connect(world.terminals[1]) as other:

        async def copy() -> None:
            answers.append(await conn.request("pay", ref="DUP", **fields))

        async with trio.open_nursery() as nursery:
            # New pays wait for the table; two of another agent's fill both claim
            # batches in flight, so the copies queue up and meet in one batch.
            await nursery.start(hold, world, "LOCK TABLE pays IN EXCLUSIVE MODE", 1.0)
            for n in range(2):
                nursery.start_soon(lambda n=n: other.request("pay", ref=f"O{n}", **fields))
            await trio.sleep(0.2)
            for _ in range(8):  # max_in_flight
                nursery.start_soon(copy)
        for n, ref in enumerate(("DUP", "NEXT", "OVER")):
            fields["account"] = discom_account(1, 50 + n)
            last = await conn.request("pay", ref=ref, **fields)
    assert {a.get("code") for a in answers} == {None}, answers  # no error, no refusal
    assert {a["txn"] for a in answers} == {answers[0]["txn"]}
    assert last["code"] == "limit_exceeded"  # DUP + NEXT fill the day exactly
    assert len(applied(world)) == 2 + 2  # and the other agent's two
    assert await wallet(world) == 50_000_00 - 2 * AMOUNT


@pytest.mark.parametrize("kind", ["other_amount_reply", "other_account_reply", "other_txn_reply"])
async def test_an_applied_answer_for_another_payment_is_not_a_success(
    world: World, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The biller applied the pay as sent but its answer names another amount,
    account or txn: not posted on that answer; its status (honest) decides."""
    caplog.set_level(logging.INFO, "switch.pays")
    world.discom.faults.set(Fault.parse({"op": "pay", "kind": kind, "count": 1}))
    async with connect(world.terminals[0]) as conn:
        first = await conn.request(
            "pay", ref="LIE", biller="UPPCL", account=discom_account(1, 60), amount_paise=AMOUNT
        )
        last = await final(conn, "LIE")
    assert world.discom.faults.fired[kind] == 1
    assert first["status"] in ("pending", "success")
    seen = "not for this pay" if kind != "other_txn_reply" else "pay outcome unknown"
    assert seen in caplog.text  # the answer was not taken; the status was asked
    assert last["status"] == "success" and last["receipt"]["amount_paise"] == AMOUNT
    assert await wallet(world) == 50_000_00 - AMOUNT


async def test_a_biller_that_keeps_naming_another_amount_gets_reversed(world: World) -> None:
    """Every answer of the biller (the pay's, each status) names another amount: the
    pay is never posted on them; it is reversed at its deadline, the wallet refunded."""
    world.discom.faults.set(Fault.parse({"op": "any", "kind": "other_amount_reply"}))
    async with connect(world.terminals[0]) as conn:
        await conn.request(
            "pay", ref="SKEW", biller="UPPCL", account=discom_account(1, 61), amount_paise=AMOUNT
        )
        last = await final(conn, "SKEW")
    assert (last["status"], last["code"]) == ("failed", "reversed")
    assert applied(world) == [] and await wallet(world) == 50_000_00
    assert len(world.discom.payments) == 1  # applied once, then reversed


async def test_a_biller_that_will_not_reverse_keeps_the_money_posted(world: World) -> None:
    """A pay gone unknown (the reply lost, every status failing) is reversed at its
    deadline; the biller answers 409 not_reversible: the biller has the money, so
    the pay is posted (never refunded on top) and a case opened for a person."""
    faults = world.discom.faults
    faults.set(Fault.parse({"op": "pay", "kind": "lose_reply", "count": 1}))
    faults.set(Fault.parse({"op": "status", "kind": "error_5xx"}))
    faults.set(Fault.parse({"op": "reversal", "kind": "refuse_reversal"}))
    async with connect(world.terminals[0]) as conn:
        await conn.request(
            "pay", ref="KEEP", biller="UPPCL", account=discom_account(1, 62), amount_paise=AMOUNT
        )
        last = await final(conn, "KEEP")
    assert last["status"] == "success"
    assert faults.fired["refuse_reversal"] >= 1
    assert len(applied(world)) == 1 and await wallet(world) == 50_000_00 - AMOUNT
    case = await world.switch.db.fetchrow("SELECT kind, pay_id FROM recon_cases")
    assert case is not None and (case["kind"], case["pay_id"]) == (
        "success_after_reversal",
        last["txn"],
    )
