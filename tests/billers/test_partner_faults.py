"""A partner's pay meets the biller's faults as a terminal's does: the same machine,
reversals and recovery end it in the truth, the prefund debited exactly when the
biller applied the pay, and the partner told so by the same Idempotency-Key."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from simulators.common.faults import Fault
from simulators.discom.simulator import discom_account
from simulators.partner.client import PartnerClient
from tests.admin.conftest import admin_of
from tests.billers.conftest import World
from tests.partners.conftest import PREFUND_PAISE, balance, onboard

AMOUNT = 150_00


@pytest.fixture
def biller_timeout_s() -> float:
    return 1.0


async def final(client: PartnerClient, ref: str) -> dict[str, Any]:
    """Ask by the same key until the answer is final, as a partner must."""
    with trio.fail_after(20):
        while True:
            r = await client.status(ref)
            if r.json().get("status") in ("success", "failed"):
                return dict(r.json())
            await trio.sleep(0.2)


CASES = [
    ("lose_reply", True, "success", None),
    ("error_5xx", False, "failed", "reversed"),
    ("hang", False, "failed", "reversed"),
    ("garbage", True, "success", None),
]


@pytest.mark.parametrize(("kind", "applied", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_a_partner_pay_through_a_fault_ends_in_the_truth(
    world: World, kind: str, applied: bool, status: str, code: str | None
) -> None:
    async with admin_of(world.switch, world.cfg) as admin:
        partner = await onboard(admin)
    world.discom.faults.set(Fault.parse({"op": "pay", "kind": kind, "count": 1}))
    async with partner.client as c:
        first = await c.pay(kind, "UPPCL", discom_account(1, 40), AMOUNT)
        assert first.status_code in (200, 202), first.text  # always an answer
        last = first.json() if first.status_code == 200 else await final(c, kind)
    assert world.discom.faults.fired.get(kind) == 1
    assert (last["status"], last.get("code")) == (status, code)
    held = [p for p in world.discom.payments.values() if p.status == "applied"]
    assert len(held) == (1 if applied else 0)
    assert await balance(world.switch, partner.id) == PREFUND_PAISE - (AMOUNT if applied else 0)
    row = await world.switch.db.fetchrow(
        "SELECT state, channel FROM pays WHERE terminal_ref = $1", kind
    )
    assert row is not None
    assert (row["state"], row["channel"]) == ("posted" if applied else "voided", "partner")
