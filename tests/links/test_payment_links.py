"""Payment links end to end: a biller's demand pushed, the SMS with its signed link,
the consumer's page, the UPI collect approved (or not) in the payer's app, the bill
paid through the same pay flow, and the gateway's duplicate, late, missing and forged
callbacks. After each test the gateway's books and the switch's agree (conftest)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import trio

from simulators.discom.simulator import discom_account
from simulators.epos.connection import connect
from simulators.water.simulator import water_account
from switch.links.gateway import SIGNATURE_HEADER, signature
from switch.sms import TEMPLATES
from tests.links.conftest import SECRET, VPA, LinkWorld


def path_of(url: str) -> str:
    return urlsplit(url).path


async def approve(lw: LinkWorld, order_id: str, yes: bool = True) -> None:
    """The payer's UPI app: the request is there, and they decide."""
    gw = f"http://127.0.0.1:{lw.gateway_port}"
    r = await lw.page.get(f"{gw}/v1/app/requests", params={"vpa": VPA})
    assert order_id in [x["order_id"] for x in r.json()["requests"]]
    r = await lw.page.post(f"{gw}/v1/app/requests/{order_id}", json={"approve": yes})
    assert r.status_code == 200, r.text


async def start_paying(lw: LinkWorld, link_path: str, vpa: str = VPA) -> str:
    r = await lw.page.post(f"{link_path}/pay", data={"vpa": vpa})
    assert r.status_code == 303, r.text
    link_id = int(link_path.rsplit("/", 1)[1].split("-")[0])
    order_id = await lw.db.fetchval(
        "SELECT id FROM link_orders WHERE link_id = $1 ORDER BY created_at DESC LIMIT 1", link_id
    )
    return str(order_id)


async def post_callback(lw: LinkWorld, body: dict[str, Any], secret: str = SECRET) -> Any:
    raw = json.dumps(body).encode()
    return await lw.page.post(
        "/v1/gateway/callback",
        content=raw,
        headers={SIGNATURE_HEADER: signature(secret, raw), "Content-Type": "application/json"},
    )


async def test_a_water_demand_is_sent_paid_once_and_receipted(links: LinkWorld) -> None:
    account = water_account(1, 4)
    consumer = links.world.water.consumers[account]
    due = consumer.amount_due_paise
    sent = await links.demand(
        "JALSEWA", {"account": account, "language": "hi"}, {"account": "WS99999999"}
    )
    assert sent["sent"] == 1 and sent["refused"] == 1
    assert sent["results"][1]["error"] == "unknown_consumer"
    url = await links.link_sms(consumer.mobile)  # the biller's registered mobile
    [sms] = [m for m in links.world.sms.messages.values() if m["to"] == consumer.mobile]
    assert sms["template_id"] == TEMPLATES["pay_link"].ids["hi"] and "देय तिथि" in sms["body"]
    page = await links.page.get(path_of(url))
    assert page.status_code == 200 and consumer.name in page.text
    assert f"{due // 100:,}" in page.text.replace("₹", "") and "UPI" in page.text

    order_id = await start_paying(links, path_of(url))
    waiting = await links.page.get(path_of(url))
    assert 'http-equiv="refresh"' in waiting.text and VPA in waiting.text
    await approve(links, order_id)
    assert await links.order_state(order_id, "paid", "refunding", "refunded") == "paid"
    assert consumer.amount_due_paise == 0
    pay = await links.db.fetchrow(
        "SELECT * FROM pays WHERE terminal_ref = $1 AND channel = 'link'", order_id
    )
    assert pay["state"] == "posted" and pay["amount_paise"] == due and pay["language"] == "hi"

    done = await links.page.get(path_of(url))
    assert done.status_code == 200 and 'id="outcome"' in done.text and "/r/" in done.text
    receipt = await links.page.get(path_of(done.text.split('href="')[-1].split('"')[0]))
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    again = await links.page.post(f"{path_of(url)}/pay", data={"vpa": VPA})
    assert again.status_code == 200 and "/r/" in again.text  # paid already, nothing new
    assert await links.db.fetchval("SELECT count(*) FROM link_orders") == 1


async def test_a_tampered_or_expired_link_is_a_clear_page_and_moves_nothing(
    links: LinkWorld,
) -> None:
    account = discom_account(1, 21)
    await links.demand("UPPCL", {"account": account, "mobile": "9876512345"})
    url = path_of(await links.link_sms("9876512345"))
    link_id, tag = url.rsplit("/", 1)[1].split("-", 1)
    for forged in (f"/l/{int(link_id) + 1}-{tag}", f"/l/{link_id}-{tag[::-1]}", "/l/x", "/l/1-"):
        r = await links.page.get(forged)
        assert r.status_code == 404 and "not valid" in r.text, forged
        r = await links.page.post(f"{forged}/pay", data={"vpa": VPA})
        assert r.status_code == 404
    await links.db.execute(
        "UPDATE pay_links SET expires_at = now() - interval '1 second' WHERE id = $1",
        int(link_id),
    )
    for r in (await links.page.get(url), await links.page.post(f"{url}/pay", data={"vpa": VPA})):
        assert r.status_code == 410 and "expired" in r.text
    bad_vpa = await links.page.post(f"{url}/pay", data={"vpa": "not a vpa"})
    assert bad_vpa.status_code == 410
    assert await links.db.fetchval("SELECT count(*) FROM link_orders") == 0
    assert links.gateway.orders == {}


async def test_declined_then_approved_and_duplicate_late_callbacks_pay_once(
    links: LinkWorld,
) -> None:
    account = discom_account(1, 22)
    await links.demand("UPPCL", {"account": account, "mobile": "9876512346"})
    url = path_of(await links.link_sms("9876512346"))
    bad = await links.page.post(f"{url}/pay", data={"vpa": "no-at-sign"})
    assert bad.status_code == 422 and "name@bank" in bad.text
    first = await start_paying(links, url)
    await approve(links, first, yes=False)
    assert await links.order_state(first, "failed") == "failed"
    page = await links.page.get(url)
    assert "not completed" in page.text and 'name="vpa"' in page.text

    await links.gateway.app.handle(
        "POST", "/v1/admin/behaviour", json.dumps({"callback": "duplicate", "late_s": 0.3}).encode()
    )
    second = await start_paying(links, url)
    assert second != first
    await approve(links, second)
    assert await links.order_state(second, "paid") == "paid"
    with trio.fail_after(10):
        while links.gateway.callbacks_sent < 3:  # noqa: ASYNC110  # the decline's, then the approval's two
            await trio.sleep(0.05)
    outcomes = await links.db.fetch(
        "SELECT outcome FROM gateway_callbacks WHERE order_id = $1 ORDER BY id", second
    )
    assert [r["outcome"] for r in outcomes][-1] == "no_change"
    assert await links.db.fetchval("SELECT count(*) FROM pays WHERE channel = 'link'") == 1


async def test_no_callback_at_all_the_switch_asks(links: LinkWorld) -> None:
    await links.gateway.app.handle(
        "POST", "/v1/admin/behaviour", json.dumps({"callback": "never"}).encode()
    )
    await links.demand("UPPCL", {"account": discom_account(1, 23), "mobile": "9876512347"})
    url = path_of(await links.link_sms("9876512347"))
    order_id = await start_paying(links, url)
    await approve(links, order_id)
    assert await links.order_state(order_id, "paid") == "paid"
    assert links.gateway.callbacks_sent == 0


async def test_success_after_the_switch_gave_up_on_a_link_paid_since_is_refunded(
    links: LinkWorld,
) -> None:
    """Rules 2 and 3: the switch heard "failed" for the first order, the consumer paid
    with a second, then the first one's money came after all: it is credited (never
    lost) and refunded (never a second pay of the bill)."""
    await links.demand("UPPCL", {"account": discom_account(1, 24), "mobile": "9876512348"})
    url = path_of(await links.link_sms("9876512348"))
    first = await start_paying(links, url)
    amount = links.gateway.orders[first]["amount_paise"]
    said = await post_callback(
        links, {"order_id": first, "status": "failed", "amount_paise": amount}
    )
    assert said.status_code == 200 and said.json()["outcome"] == "failed"
    second = await start_paying(links, url)
    await approve(links, second)
    assert await links.order_state(second, "paid") == "paid"
    await approve(links, first)  # the payer's app still had it
    assert await links.order_state(first, "refunded") == "refunded"
    assert links.gateway.refunds[first]["amount_paise"] == amount
    with trio.fail_after(10):
        while not (sms := [m for m in links.world.sms.messages.values() if first in m["body"]]):  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert len(sms) == 1 and "refunded to your UPI account" in sms[0]["body"]
    assert sms[0]["template_id"] == TEMPLATES["link_refund"].ids["en"]
    assert await links.db.fetchval("SELECT count(*) FROM pays WHERE channel = 'link'") == 1


async def test_forged_unknown_and_wrong_callbacks_are_refused_and_move_nothing(
    links: LinkWorld,
) -> None:
    await links.demand("UPPCL", {"account": discom_account(1, 25), "mobile": "9876512349"})
    url = path_of(await links.link_sms("9876512349"))
    order_id = await start_paying(links, url)
    amount = links.gateway.orders[order_id]["amount_paise"]
    word = {"order_id": order_id, "status": "success", "amount_paise": amount}
    raw = json.dumps(word).encode()
    unsigned = await links.page.post("/v1/gateway/callback", content=raw)
    forged = await post_callback(links, word, secret="not-the-gateway-secret")
    unknown = await post_callback(links, word | {"order_id": "L999-1"})
    other_amount = await post_callback(links, word | {"amount_paise": amount + 1})
    garbage = await links.page.post(
        "/v1/gateway/callback", content=b"{", headers={SIGNATURE_HEADER: signature(SECRET, b"{")}
    )
    assert [r.status_code for r in (unsigned, forged, unknown, other_amount, garbage)] == [
        401,
        401,
        404,
        409,
        422,
    ]
    assert unknown.json()["error"]["code"] == "not_found"
    assert await links.db.fetchval("SELECT state FROM link_orders") == "pending"
    assert await links.db.fetchval("SELECT count(*) FROM pays") == 0
    await approve(links, order_id, yes=False)  # the real word ends it
    assert await links.order_state(order_id, "failed") == "failed"


async def test_a_bill_paid_at_a_shop_since_the_sms_is_not_paid_again(links: LinkWorld) -> None:
    account = discom_account(1, 26)
    await links.demand("UPPCL", {"account": account, "mobile": "9876512350"})
    url = path_of(await links.link_sms("9876512350"))
    due = links.world.discom.consumers[account].amount_due_paise
    async with connect(links.world.terminals[0]) as conn:
        paid = await conn.request(
            "pay", ref="SHOP1", biller="UPPCL", account=account, amount_paise=due
        )
    assert paid["status"] == "success"
    r = await links.page.post(f"{url}/pay", data={"vpa": VPA})
    assert r.status_code == 422 and "changed" in r.text
    assert links.gateway.orders == {}


async def test_a_pay_the_switch_refuses_refunds_the_money(links: LinkWorld) -> None:
    """The gateway account's per-pay limit is under the bill: the pay is refused
    before anything is held, and the collected money goes back."""
    await links.demand("UPPCL", {"account": discom_account(1, 27), "mobile": "9876512351"})
    url = path_of(await links.link_sms("9876512351"))
    await links.db.execute("UPDATE wallet_limits SET per_txn_paise = 1 WHERE agent_id = 'PG000001'")
    await links.world.switch.policy.refresh()
    order_id = await start_paying(links, url)
    await approve(links, order_id)
    assert await links.order_state(order_id, "refunded") == "refunded"
    failure = await links.db.fetchval("SELECT failure FROM link_orders WHERE id = $1", order_id)
    assert failure and "limit" in failure
    page = await links.page.get(url)
    assert "being returned" in page.text and 'name="vpa"' in page.text  # the link is open again
