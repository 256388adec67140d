"""A partner pays bills through the partner API: the same pay as a terminal's, from its
prefunded account, recorded with its channel; retries of one Idempotency-Key are one
pay; what the switch refuses moves nothing."""

from __future__ import annotations

from typing import Any

from switch.protocols.billers.stub import stub_amount_paise
from tests.admin.conftest import Admin
from tests.partners.conftest import PREFUND_PAISE, Partner, balance

ACCOUNT = "1234567890"


async def _counts(admin: Admin) -> tuple[int, int]:
    pays = await admin.sw.db.fetchval("SELECT count(*) FROM pays")
    transfers = await admin.sw.db.fetchval("SELECT count(*) FROM transfers")
    return int(pays), int(transfers)


async def test_fetch_then_pay_debits_the_prefund_once(admin: Admin, partner: Partner) -> None:
    c = partner.client
    bill = await c.fetch("UPPCL", ACCOUNT)
    assert bill.status_code == 200, bill.text
    due = bill.json()["amount_paise"]
    assert due == stub_amount_paise(ACCOUNT) and bill.json()["bill_ref"]
    r = await c.pay("ORD-1", "UPPCL", ACCOUNT, due, bill_ref=bill.json()["bill_ref"])
    assert r.status_code == 200, r.text
    paid: dict[str, Any] = r.json()
    assert paid["status"] == "success" and paid["ref"] == "ORD-1"
    assert paid["receipt"]["biller_txn"] == f"UPPCL-{paid['txn']}"
    # The same key again (a retry after a lost answer): the same pay, not a second.
    again = await c.pay("ORD-1", "UPPCL", ACCOUNT, due, bill_ref=bill.json()["bill_ref"])
    assert again.status_code == 200 and again.json()["txn"] == paid["txn"]
    assert await balance(admin.sw, partner.id) == PREFUND_PAISE - due
    row = await admin.sw.db.fetchrow("SELECT * FROM pays WHERE id = $1", paid["txn"])
    assert (row["channel"], row["agent_id"], row["terminal_ref"]) == (
        "partner",
        partner.id,
        "ORD-1",
    )
    status = await c.status("ORD-1")
    assert status.status_code == 200 and status.json()["status"] == "success"
    found = await admin.call("support", "GET", "/v1/transactions", params={"channel": "partner"})
    assert [t["txn_id"] for t in found.json()["items"]] == [paid["txn"]]
    pdf = await c.request("GET", "/pays/ORD-1/receipt.pdf")
    assert pdf.status_code == 200 and pdf.body.startswith(b"%PDF-")
    missing = await c.request("GET", "/pays/NOPE/receipt.pdf")
    assert missing.json()["error"]["code"] == "unknown_reference"
    account = (await c.account()).json()
    assert account["balance_paise"] == PREFUND_PAISE - due


async def test_same_key_for_another_pay_is_refused(admin: Admin, partner: Partner) -> None:
    c = partner.client
    assert (await c.pay("K-1", "UPPCL", ACCOUNT, 100_00)).json()["status"] == "success"
    before = await _counts(admin)
    other = await c.pay("K-1", "UPPCL", ACCOUNT, 200_00)
    assert other.status_code == 409 and other.json()["error"]["code"] == "reference_reused"
    assert await _counts(admin) == before


async def test_a_pay_over_the_prefund_fails_and_holds_nothing(
    admin: Admin, partner: Partner
) -> None:
    r = await partner.client.pay("BIG-1", "UPPCL", ACCOUNT, PREFUND_PAISE + 1)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed" and r.json()["code"] == "insufficient_funds"
    assert await balance(admin.sw, partner.id) == PREFUND_PAISE
    held = await admin.sw.db.fetchval("SELECT count(*) FROM transfers WHERE state = 1")
    assert held == 0


async def test_bad_requests_are_refused_with_their_code(admin: Admin, partner: Partner) -> None:
    c = partner.client
    before = await _counts(admin)
    cases = [
        (await c.pay("B-1", "NOPE", ACCOUNT, 100_00), 404, "unknown_biller"),
        (await c.fetch("UPPCL", "0000000000"), 404, "unknown_consumer"),
        (await c.pay("B-2", "UPPCL", "bad account!", 100_00), 422, "invalid_request"),
        (await c.pay("B-3", "UPPCL", ACCOUNT, 50), 422, "invalid_amount"),
        (
            await c.pay("B-4", "UPPCL", ACCOUNT, 100_00, bill_ref="v1.abc.xxxxxxxxxxxxxxxxxxxxxx"),
            409,
            "bill_mismatch",
        ),
        (await c.status("NEVER"), 404, "unknown_reference"),
        (await c.request("POST", "/pays", {"biller": "UPPCL"}), 422, "invalid_request"),
    ]
    for r, status, code in cases:
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    no_key = await c.request(
        "POST", "/pays", {"biller": "UPPCL", "account": ACCOUNT, "amount_paise": 100_00}
    )
    assert no_key.json()["error"]["fields"] == {
        "Idempotency-Key": "required: 1-32 of A-Z a-z 0-9 _ -"
    }
    assert await _counts(admin) == before
    assert await balance(admin.sw, partner.id) == PREFUND_PAISE


async def test_catalogue_lists_the_billers_offered_to_partners(partner: Partner) -> None:
    r = await partner.client.catalogue()
    assert r.status_code == 200
    body = r.json()
    assert [b["id"] for b in body["billers"]] == ["UPPCL"]
    same = await partner.client.catalogue(body["version"])
    assert same.json() == {"version": body["version"]}


async def test_a_complaint_is_raised_once_per_key(admin: Admin, partner: Partner) -> None:
    c = partner.client
    txn = (await c.pay("C-1", "UPPCL", ACCOUNT, 100_00)).json()["txn"]
    first = await c.complain("CMP-1", "C-1", "not_credited", "consumer says not credited")
    assert first.status_code == 201, first.text
    again = await c.complain("CMP-1", "C-1", "not_credited", "consumer says not credited")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = await c.complain("CMP-1", "C-1", "wrong_amount", "another")
    assert other.status_code == 409 and other.json()["error"]["code"] == "reference_reused"
    unknown = await c.complain("CMP-2", "NOPAY", "other", "no such pay")
    assert unknown.status_code == 404
    shown = (await c.complaint(first.json()["id"])).json()
    assert (shown["txn"], shown["ref"], shown["state"]) == (txn, "C-1", "logged")
    assert [e["action"] for e in shown["history"]] == ["log"]
    staff = await admin.call("support", "GET", f"/v1/complaints/{first.json()['id']}")
    assert staff.json()["partner_ref"] == "CMP-1" and staff.json()["agent_id"] == partner.id
    assert (await admin.sw.db.fetchval("SELECT count(*) FROM complaints")) == 1
