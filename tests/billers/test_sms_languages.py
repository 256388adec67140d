"""The depositor's SMS in the language chosen for it, each message naming its
registered template: the terminal's language, overridden by the consumer's own."""

from __future__ import annotations

from typing import Any

import trio

from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from switch.sms import TEMPLATES
from tests.billers.conftest import World

MOBILE_A = "9876543001"
MOBILE_B = "9876543002"


async def messages_to(world: World, mobile: str, count: int) -> list[dict[str, Any]]:
    with trio.fail_after(10):
        while True:
            found = [m for m in world.sms.messages.values() if m["to"] == mobile]
            if len(found) >= count:
                return found
            await trio.sleep(0.05)


async def test_hindi_terminal_sends_hindi_unless_the_consumer_chose_english(world: World) -> None:
    terminal = world.terminals[0]
    await world.switch.db.execute(
        "UPDATE terminals SET language = 'hi' WHERE id = $1", terminal.terminal_id
    )
    await world.switch.db.execute(
        "INSERT INTO consumer_languages (mobile, language) VALUES ($1, 'en')", MOBILE_B
    )
    posted, failed = discom_account(1, 11), discom_account(1, 12)
    async with connect(terminal) as conn:
        bill = await conn.request("fetch_bill", biller="UPPCL", account=posted)
        ok = await conn.request(
            "pay", ref="H1", biller="UPPCL", account=posted,
            amount_paise=bill["amount_paise"], mobile=MOBILE_A,
        )  # fmt: skip
        refused = await conn.request(
            "pay", ref="H2", biller="UPPCL", account=failed,
            amount_paise=60_000_00, mobile=MOBILE_A,
        )  # fmt: skip
        english = await conn.request(
            "pay", ref="H3", biller="UPPCL", account=discom_account(1, 13),
            amount_paise=100_00, mobile=MOBILE_B,
        )  # fmt: skip
    assert ok["status"] == "success" and refused["status"] == "failed"
    assert english["status"] == "success"
    a = await messages_to(world, MOBILE_A, 2)
    [hi_ok] = [m for m in a if "प्राप्त" in m["body"]]
    [hi_failed] = [m for m in a if "विफल" in m["body"]]
    assert ok["receipt"]["biller_txn"] in hi_ok["body"] and "रसीद: http" in hi_ok["body"]
    assert "नकद" in hi_failed["body"]  # collect the cash from the agent
    assert hi_ok["language"] == hi_failed["language"] == "hi"
    assert hi_ok["template_id"] == TEMPLATES["pay_posted"].ids["hi"]
    assert hi_failed["template_id"] == TEMPLATES["pay_failed_cash"].ids["hi"]
    [en] = await messages_to(world, MOBILE_B, 1)
    assert en["language"] == "en" and en["body"].startswith("Rs 100.00 received")
    assert en["template_id"] == TEMPLATES["pay_posted"].ids["en"]
    languages = await world.switch.db.fetch(
        "SELECT terminal_ref, language FROM pays ORDER BY terminal_ref"
    )
    assert [(r["terminal_ref"], r["language"]) for r in languages] == [
        ("H1", "hi"),
        ("H2", "hi"),
        ("H3", "en"),
    ]
