"""Rule 2 with no callback at all: the switch heard "failed", the payer approved after
all and the gateway never called back. The switch's one late look at a failed order
finds the money and pays the bill with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulators.discom.simulator import discom_account
from tests.links.conftest import LinkWorld
from tests.links.test_payment_links import approve, path_of, post_callback, start_paying


@pytest.fixture
def gateway_changes() -> dict[str, Any]:
    return {"collect_expiry_s": 1.0}  # the late look comes a second after "failed"


async def test_money_that_came_after_failed_is_found_and_pays_the_bill(links: LinkWorld) -> None:
    await links.gateway.app.handle(
        "POST", "/v1/admin/behaviour", json.dumps({"callback": "never"}).encode()
    )
    await links.demand("UPPCL", {"account": discom_account(1, 28), "mobile": "9876512352"})
    url = path_of(await links.link_sms("9876512352"))
    order_id = await start_paying(links, url)
    amount = links.gateway.orders[order_id]["amount_paise"]
    said = await post_callback(
        links, {"order_id": order_id, "status": "failed", "amount_paise": amount}
    )
    assert said.json()["outcome"] == "failed"
    links.gateway.orders[order_id]["expires_at"] += 60  # the payer's app still shows it
    await approve(links, order_id)
    assert await links.order_state(order_id, "paid", timeout_s=20) == "paid"
    assert links.gateway.callbacks_sent == 0
