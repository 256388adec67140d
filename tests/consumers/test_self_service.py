"""A consumer signs in with their account, their mobile and a code by SMS, and sees
their own bill, payments, receipts and complaints; the code's limits hold (known
mobiles only, a few codes an hour, a few guesses a code, even at once)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import trio

from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from switch.imports import engine, mapping
from switch.sms import TEMPLATES
from tests.imports.test_imports import write_csv
from tests.links.conftest import LinkWorld

MOBILE = "9876522001"


async def paid_at_a_shop(lw: LinkWorld, account: str, ref: str, mobile: str = MOBILE) -> dict:
    async with connect(lw.world.terminals[0]) as conn:
        bill = await conn.request("fetch_bill", biller="UPPCL", account=account)
        return dict(
            await conn.request(
                "pay", ref=ref, biller="UPPCL", account=account,
                amount_paise=bill["amount_paise"], mobile=mobile,
            )
        )  # fmt: skip


async def code_sent(lw: LinkWorld, mobile: str, count: int = 1) -> str:
    with trio.fail_after(10):
        while True:
            codes = [
                re.search(r"code is (\d{6})", m["body"])
                for m in lw.world.sms.messages.values()
                if m["to"] == mobile
            ]
            found = [c.group(1) for c in codes if c]
            if len(found) >= count:
                return found[-1]
            await trio.sleep(0.05)


async def ask_code(phone: httpx.AsyncClient, account: str, mobile: str = MOBILE) -> httpx.Response:
    form = {"biller": "UPPCL", "account": account, "mobile": mobile}
    return await phone.post("/me/code", data=form)


async def test_sign_in_by_code_and_see_bill_payments_receipts_complaints(
    links: LinkWorld,
) -> None:
    account = discom_account(1, 31)
    paid = await paid_at_a_shop(links, account, "ME1")
    phone = links.page
    start = await phone.get("/me/")
    assert start.status_code == 200 and "UPPCL" in start.text
    r = await ask_code(phone, account)
    assert r.status_code == 303 and r.headers["location"] == "/me/verify"
    code = await code_sent(links, MOBILE)
    [otp_sms] = [m for m in links.world.sms.messages.values() if code in m["body"]]
    assert otp_sms["template_id"] == TEMPLATES["consumer_otp"].ids["en"]
    stored = await links.db.fetchval("SELECT body FROM sms_outbox WHERE body LIKE '%code is%'")
    assert code not in stored  # the stored text holds a mark, never the code

    wrong = await phone.post("/me/verify", data={"code": "000000" if code != "000000" else "1"})
    assert wrong.status_code == 422 and "Tries left: 4" in wrong.text
    right = await phone.post("/me/verify", data={"code": code})
    assert right.status_code == 303 and right.headers["location"] == "/me/account"
    page = await phone.get("/me/account")
    assert page.status_code == 200 and account in page.text
    assert str(paid["txn"]) in page.text and "/r/" in page.text  # the receipt's link
    assert "Amount due" in page.text  # the live bill (nothing due now)

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    raised = await phone.post(
        "/me/complaints",
        data={"csrf": csrf, "pay_id": str(paid["txn"]), "category": "not_credited",
              "description": "The biller still shows it due"},
    )  # fmt: skip
    assert raised.status_code == 303 and "complaint-" in raised.headers["location"]
    page = await phone.get(raised.headers["location"])
    assert "registered" in page.text and "logged" in page.text
    row = await links.db.fetchrow("SELECT * FROM complaints")
    assert row["pay_id"] == paid["txn"] and row["raised_by"] == f"consumer:{MOBILE}"
    assert row["agent_id"] == links.world.terminals[0].agent_id and row["due_at"] is not None

    stale = await phone.post(
        "/me/complaints", data={"csrf": "forged", "pay_id": str(paid["txn"]), "category": "other"}
    )
    assert stale.status_code == 403
    other = await paid_at_a_shop(links, discom_account(1, 32), "ME2", "9876522002")
    theirs = await phone.post(
        "/me/complaints", data={"csrf": csrf, "pay_id": str(other["txn"]), "category": "other"}
    )
    assert theirs.status_code == 422 and "Choose one of your payments" in theirs.text
    assert await links.db.fetchval("SELECT count(*) FROM complaints") == 1


async def test_the_consumer_chooses_hindi_and_their_next_sms_is_hindi(links: LinkWorld) -> None:
    account = discom_account(1, 33)
    await paid_at_a_shop(links, account, "HI1")
    phone = links.page
    await ask_code(phone, account)
    await phone.post("/me/verify", data={"code": await code_sent(links, MOBILE)})
    page = await phone.get("/me/account")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await phone.post("/me/language", data={"csrf": csrf, "language": "hi"})
    assert r.status_code == 303
    hindi = await phone.get(r.headers["location"])
    assert "आपके SMS" in hindi.text  # the page itself speaks Hindi now
    account2 = discom_account(1, 34)
    async with connect(links.world.terminals[0]) as conn:  # an English terminal
        result = await conn.request(
            "pay", ref="HI2", biller="UPPCL", account=account2, amount_paise=100_00, mobile=MOBILE
        )

    def sent() -> list[dict]:
        return [m for m in links.world.sms.messages.values() if str(result["txn"]) in m["body"]]

    with trio.fail_after(10):
        while not sent():  # noqa: ASYNC110
            await trio.sleep(0.05)
    [sms] = sent()
    assert sms["language"] == "hi" and "प्राप्त" in sms["body"]


async def test_an_unknown_mobile_gets_the_same_answer_and_no_code(links: LinkWorld) -> None:
    account = discom_account(1, 35)
    await paid_at_a_shop(links, account, "UK1")
    r = await ask_code(links.page, account, "9876599999")
    assert r.status_code == 303 and r.headers["location"] == "/me/verify"
    page = await links.page.get("/me/verify")
    assert "If xxxxxx9999 is registered" in page.text
    await trio.sleep(0.5)
    assert not [m for m in links.world.sms.messages.values() if m["to"] == "9876599999"]
    guess = await links.page.post("/me/verify", data={"code": "123456"})
    assert guess.status_code == 422 and "no longer works" in guess.text
    bad = await links.page.post(
        "/me/code", data={"biller": "UPPCL", "account": "x y", "mobile": "123"}
    )
    assert bad.status_code == 422 and "not an account number" in bad.text
    unknown = await ask_code(links.page, "2001999999")
    assert unknown.status_code == 422 and "No such account" in unknown.text
    assert (await links.page.get("/me/account")).headers.get("location") == "/me/"


async def test_codes_are_limited_an_hour_and_guesses_a_code_even_at_once(
    links: LinkWorld,
) -> None:
    account = discom_account(1, 36)
    await paid_at_a_shop(links, account, "LM1")
    cfg = links.world.cfg.consumers
    for _ in range(cfg.otp_per_hour):
        assert (await ask_code(links.page, account)).status_code == 303
    code = await code_sent(links, MOBILE, cfg.otp_per_hour)
    refused = await ask_code(links.page, account)
    assert refused.status_code == 429 and "Too many codes" in refused.text

    results: list[int] = []

    async def guess(n: int) -> None:
        wrong = f"{(int(code) + 1 + n) % 10**6:06d}"
        results.append((await links.page.post("/me/verify", data={"code": wrong})).status_code)

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(guess, n)
    counted = await links.db.fetchval(
        "SELECT guesses FROM consumer_codes WHERE mobile = $1 ORDER BY id DESC LIMIT 1", MOBILE
    )
    assert counted == cfg.otp_max_guesses and results.count(422) == 20
    late = await links.page.post("/me/verify", data={"code": code})
    assert late.status_code == 422 and "no longer works" in late.text  # spent, right or not
    assert "switch_consumer=" not in late.headers.get("set-cookie", "")


async def test_payments_imported_from_the_old_system_are_shown_and_sign_in_knows_them(
    links: LinkWorld, tmp_path: Path
) -> None:
    """A consumer whose only payments were made before the switch: the imported history
    knows their mobile (a code is sent) and their page shows those payments, marked."""
    account = discom_account(1, 37)
    rows = [
        {
            "legacy_ref": "OLD-R1",
            "biller": "UPPCL",
            "account": account,
            "amount": "1,234.50",
            "paid_at": "05-10-2026 11:30",
            "status": "posted",
            "mobile": "9876522009",
        },
    ]
    path = write_csv(tmp_path / "history.csv", rows)
    run_id, _ = await engine.run_import(
        links.db, "history", path, mapping.default("history"), engine.Options("migration")
    )
    await ask_code(links.page, account, "9876522009")
    code = await code_sent(links, "9876522009")
    await links.page.post("/me/verify", data={"code": code})
    page = await links.page.get("/me/account")
    assert "OLD-R1" in page.text and "imported" in page.text and "₹1,234.50" in page.text
    assert run_id == await links.db.fetchval("SELECT run_id FROM legacy_pays")
