"""Every injected biller fault, on the pay operation, with its exact end state: the
pay's final state and reason, the wallet, what the biller holds, what the terminal
was told. (The world's biller deadline is 1 s; the switch answers within 1 s.)"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from simulators.common.faults import Fault
from simulators.discom.simulator import discom_account
from simulators.epos.connection import EposConnection, connect
from switch.protocols.http11 import HttpClient
from tests.billers.conftest import World

AMOUNT = 150_00


async def wallet(world: World) -> int:
    wallet_id = await world.switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", world.terminals[0].agent_id
    )
    return await world.switch.ledger.balance(wallet_id)


async def final(conn: EposConnection, ref: str) -> dict[str, Any]:
    """Ask with the same ref until the answer is final, as a terminal must."""
    with trio.fail_after(15):
        while True:
            answer = await conn.request("status", ref=ref)
            if answer.get("status") in ("success", "failed"):
                return answer
            await trio.sleep(0.2)


async def pay_with(world: World, kind: str, **fault: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inject ``kind`` once on the next pay; return (first answer, final answer)."""
    world.discom.faults.set(Fault.parse({"op": "pay", "kind": kind, "count": 1, **fault}))
    async with connect(world.terminals[0]) as conn:
        first = await conn.request(
            "pay", ref=kind, biller="UPPCL", account=discom_account(1, 30), amount_paise=AMOUNT
        )
        last = first if first.get("status") in ("success", "failed") else await final(conn, kind)
    assert world.discom.faults.fired.get(kind) == 1
    return first, last


# (kind, extra fault settings, the biller applied it?, final status, final code: a pay
# the biller never had is reversed, and the terminal hears "reversed")
CASES = [
    ("latency", {"latency_ms": [200, 300]}, True, "success", None),
    ("hang", {}, False, "failed", "reversed"),
    ("lose_reply", {}, True, "success", None),
    ("error_5xx", {}, False, "failed", "reversed"),
    ("garbage", {}, True, "success", None),
    ("reset", {}, False, "failed", "reversed"),
    ("duplicate_reply", {}, True, "success", None),
    ("slow_drip", {"drip_ms": 20}, True, "success", None),
]


@pytest.mark.parametrize(
    ("kind", "settings", "applied", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
async def test_each_fault_ends_in_the_truth(
    world: World, kind: str, settings: dict[str, Any], applied: bool, status: str, code: str | None
) -> None:
    first, last = await pay_with(world, kind, **settings)
    assert first["status"] in ("success", "failed", "pending")  # always an answer
    assert last["status"] == status and last.get("code") == code
    held = [p for p in world.discom.payments.values() if p.status == "applied"]
    assert len(held) == (1 if applied else 0)
    assert await wallet(world) == 50_000_00 - (AMOUNT if applied else 0)
    state = await world.switch.db.fetchval("SELECT state FROM pays WHERE terminal_ref = $1", kind)
    assert state == ("posted" if applied else "voided")
    if applied:
        assert last["receipt"]["biller_txn"] == held[0].biller_txn_id


async def test_a_biller_that_is_down_is_unavailable_then_resolved(world: World) -> None:
    world.discom.faults.set(Fault.parse({"kind": "down"}))
    async with connect(world.terminals[0]) as conn:
        fetched = await conn.request("fetch_bill", biller="UPPCL", account=discom_account(1, 31))
        paid = await conn.request(
            "pay", ref="DOWN", biller="UPPCL", account=discom_account(1, 31), amount_paise=AMOUNT
        )
        assert fetched["code"] == "biller_unavailable"
        assert paid["status"] == "pending"  # the pay may have reached it: never assumed
        assert await wallet(world) == 50_000_00 - AMOUNT  # still held
        world.discom.faults.clear()  # the biller comes back
        last = await final(conn, "DOWN")
    assert (last["status"], last["code"]) == ("failed", "reversed")
    assert await wallet(world) == 50_000_00 and world.discom.payments == {}


async def test_the_control_endpoint_refuses_nonsense(world: World) -> None:
    client = HttpClient(f"http://127.0.0.1:{world.ports['discom']}")
    bad = await client.post("/v1/admin/faults", {"op": "pay", "kind": "meteor"})
    ok = await client.post(
        "/v1/admin/faults", {"op": "fetch", "kind": "latency", "latency_ms": [1, 2]}
    )
    cleared = await client.request("DELETE", "/v1/admin/faults")
    await client.aclose()
    assert bad.status == 400 and "kind" in bad.json()["detail"]
    assert ok.status == 200 and ok.json()["faults"][0]["kind"] == "latency"
    assert cleared.json()["faults"] == []
