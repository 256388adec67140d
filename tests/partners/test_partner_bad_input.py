"""Whatever a partner sends, signed, to pay or fetch: a clear error with its field, or
the pay; never a 5xx, never money moved by a request the switch refused."""

from __future__ import annotations

import json

from tests.admin.conftest import Admin
from tests.partners.conftest import PREFUND_PAISE, Partner, balance

GOOD = {"biller": "UPPCL", "account": "1234567890", "amount_paise": 100_00}
BAD_BODIES: list[tuple[bytes, str]] = [
    (b"", "biller"),
    (b"not json", "body"),
    (b"[1, 2]", "body"),
    (json.dumps(GOOD | {"amount_paise": "100"}).encode(), "amount_paise"),
    (json.dumps(GOOD | {"amount_paise": 100.5}).encode(), "amount_paise"),
    (json.dumps(GOOD | {"amount_paise": -5}).encode(), "amount_paise"),
    (json.dumps(GOOD | {"amount_paise": 10**30}).encode(), "amount_paise"),
    (json.dumps(GOOD | {"amount_paise": True}).encode(), "amount_paise"),
    (json.dumps(GOOD | {"biller": None}).encode(), "biller"),
    (json.dumps(GOOD | {"account": "a" * 33}).encode(), "account"),
    (json.dumps(GOOD | {"account": "१२३४५६७८९०"}).encode(), "account"),
    (json.dumps(GOOD | {"mobile": "12345"}).encode(), "mobile"),
    (json.dumps(GOOD | {"params": {"Bad-Name": "x"}}).encode(), "params"),
    (json.dumps(GOOD | {"params": {"mobile": "x" * 65}}).encode(), "params"),
    (json.dumps(GOOD | {"params": ["mobile"]}).encode(), "params"),
    (json.dumps(GOOD | {"extra": 1}).encode(), "extra"),
    (json.dumps(GOOD | {"bill_ref": "v1.forged"}).encode(), "bill_ref"),
]


async def test_malformed_bodies_are_field_errors(admin: Admin, partner: Partner) -> None:
    c = partner.client
    for n, (body, field) in enumerate(BAD_BODIES):
        headers = c.headers("POST", "/partner/v1/pays", body) | {
            "Idempotency-Key": f"BAD-{n}",
            "Content-Type": "application/json",
        }
        r = await c.send_raw("POST", "/pays", body, headers)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_request" and any(
            f.startswith(field) for f in error["fields"]
        ), (body, error)
    nul = json.dumps(GOOD | {"account": "12345\u00006789"}).encode()
    headers = c.headers("POST", "/partner/v1/pays", nul) | {
        "Idempotency-Key": "NUL",
        "Content-Type": "application/json",
    }
    r = await c.send_raw("POST", "/pays", nul, headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    huge = b'{"biller": "' + b"x" * 70_000 + b'"}'
    r = await c.send_raw("POST", "/pays", huge, c.headers("POST", "/partner/v1/pays", huge))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert await admin.sw.db.fetchval("SELECT count(*) FROM pays") == 0
    assert await balance(admin.sw, partner.id) == PREFUND_PAISE
