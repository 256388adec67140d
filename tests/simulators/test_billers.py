"""The biller simulators on their own: durable records, policies, bulk demand, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import trio

from simulators.common.biller import Refused
from simulators.discom.simulator import DiscomSimulator, discom_account, generate_consumers
from simulators.run import start_simulator
from simulators.water.simulator import CYCLES, WaterSimulator
from switch.protocols.http11 import HttpClient


def test_consumers_are_deterministic_from_the_seed() -> None:
    a, b, c = generate_consumers(7, 50), generate_consumers(7, 50), generate_consumers(8, 50)
    assert [x.__dict__ for x in a] == [x.__dict__ for x in b]
    assert [x.amount_due_paise for x in a] != [x.amount_due_paise for x in c]
    first = a[0].details
    assert first["cmr"] - first["omr"] == first["units"]
    assert first["area"] in ("R-APDRP", "non-RAPDRP")
    assert a[0].amount_due_paise == first["current_amount_paise"] + first["arrears_paise"]


async def test_payments_survive_a_restart(tmp_path: Path) -> None:
    account = discom_account(1, 0)
    async with trio.open_nursery() as n:
        sim = DiscomSimulator(tmp_path, accounts=10)
        n.start_soon(sim.log.run)
        due = sim.consumers[account].amount_due_paise
        first = await sim.pay({"switch_txn_id": 41, "account": account, "amount_paise": 100_00})
        await sim.reverse(41)
        await sim.pay({"switch_txn_id": 42, "account": account, "amount_paise": 200_00})
        n.cancel_scope.cancel()
    sim.log.close()
    again = DiscomSimulator(tmp_path, accounts=10)
    assert (
        again.payments[41].status == "reversed"
        and again.payments[41].biller_txn_id == first.biller_txn_id
    )
    assert again.payments[42].status == "applied"
    assert again.consumers[account].amount_due_paise == due - 200_00
    assert again.totals() == {"applied_count": 1, "applied_paise": 200_00, "reversed_count": 1}


async def test_a_retried_payment_is_applied_once(tmp_path: Path) -> None:
    async with trio.open_nursery() as n:
        sim = DiscomSimulator(tmp_path, accounts=10)
        n.start_soon(sim.log.run)
        body = {"switch_txn_id": 5, "account": discom_account(1, 1), "amount_paise": 100_00}
        one, two = await sim.pay(body), await sim.pay(body)
        with pytest.raises(Refused) as err:
            await sim.pay({**body, "amount_paise": 1})
        n.cancel_scope.cancel()
    assert one == two and err.value.code == "switch_txn_id_reused"
    assert sim.totals()["applied_count"] == 1


def test_water_bulk_demand_follows_each_cycle(tmp_path: Path) -> None:
    sim = WaterSimulator(tmp_path, accounts=300)
    assert all(c.amount_due_paise > 0 for c in sim.consumers.values())
    january = dt.date(2030, 1, 1)
    raised = sim.generate_demand(january)
    assert raised == len(sim.consumers)  # January starts every cycle
    assert sim.generate_demand(january) == 0  # once per period
    february = sim.generate_demand(dt.date(2030, 2, 1))
    monthly = sum(1 for c in sim.consumers.values() if c.details["cycle"] == "monthly")
    assert february == monthly
    flat = [c for c in sim.consumers.values() if not c.details["metered"]]
    for c in flat[:20]:
        jan = next(d for d in c.details["demands"] if d["period"] == "2030-01-01")
        assert jan["amount_paise"] == 60_00 * CYCLES[c.details["cycle"]]


async def test_bad_requests_get_json_errors(tmp_path: Path) -> None:
    async with trio.open_nursery() as n:
        _, port = await start_simulator(n, "discom", tmp_path, accounts=10)
        client = HttpClient(f"http://127.0.0.1:{port}")
        garbage = await client.request("POST", "/v1/payments", b"{not json")
        wrong = await client.post(
            "/v1/payments", {"switch_txn_id": "1", "account": "x", "amount_paise": 1}
        )
        negative = await client.post(
            "/v1/payments", {"switch_txn_id": 1, "account": "x", "amount_paise": -5}
        )
        unknown = await client.post(
            "/v1/payments", {"switch_txn_id": 1, "account": "nobody", "amount_paise": 5}
        )
        nowhere = await client.get("/v2/anything")
        await client.aclose()
        n.cancel_scope.cancel()
    assert (garbage.status, garbage.json()["error"]) == (400, "invalid_json")
    assert (wrong.status, wrong.json()["error"]) == (400, "invalid_request")
    assert negative.status == 400
    assert (unknown.status, unknown.json()["error"]) == (404, "unknown_consumer")
    assert nowhere.status == 404
