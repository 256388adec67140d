"""The partner API's spec is its contract: the committed docs/partner-openapi.json is
what the switch serves, and every answer a partner gets (a day of a bank's calls,
and its errors) is the body the spec documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema

from simulators.partner.client import Answer
from switch.partners import spec
from tests.admin.conftest import Admin
from tests.partners.conftest import Partner

DOC = Path(__file__).resolve().parents[2] / "docs" / "partner-openapi.json"


def test_the_committed_spec_is_the_code_s() -> None:
    assert DOC.read_text() == spec.text(), (
        "docs/partner-openapi.json is stale: python -m switch.partners.spec"
    )


def _check(doc: dict[str, Any], method: str, path: str, r: Answer) -> None:
    responses = doc["paths"][path][method.lower()]["responses"]
    answer = responses.get(str(r.status_code), responses["default"])
    schema = answer["content"]["application/json"]["schema"] | {"components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(r.json())


async def test_every_answer_is_what_the_spec_documents(admin: Admin, partner: Partner) -> None:
    served = await partner.client.send_raw("GET", "/openapi.json", b"", {})  # unsigned: public
    doc = served.json()
    assert doc == spec.spec()
    c, p = partner.client, "/partner/v1"
    catalogue = await c.catalogue()
    _check(doc, "GET", f"{p}/catalogue", catalogue)
    _check(doc, "GET", f"{p}/catalogue", await c.catalogue(catalogue.json()["version"]))
    bill = await c.fetch("UPPCL", "1234567890")
    _check(doc, "POST", f"{p}/bills/fetch", bill)
    paid = await c.pay("S-1", "UPPCL", "1234567890", 100_00, bill_ref=bill.json()["bill_ref"])
    _check(doc, "POST", f"{p}/pays", paid)
    failed = await c.pay("S-2", "UPPCL", "1234567899", 100_00)  # the stub refuses it
    assert failed.json()["status"] == "failed"
    _check(doc, "POST", f"{p}/pays", failed)
    _check(doc, "GET", f"{p}/pays/{{ref}}", await c.status("S-1"))
    _check(doc, "GET", f"{p}/account", await c.account())
    raised = await c.complain("CMP-1", "S-1", "not_credited", "not seen at the biller")
    assert raised.status_code == 201
    _check(doc, "POST", f"{p}/complaints", raised)
    _check(doc, "GET", f"{p}/complaints/{{complaint_id}}", await c.complaint(raised.json()["id"]))
    errors = [
        ("GET", f"{p}/pays/{{ref}}", await c.status("NONE")),
        ("POST", f"{p}/pays", await c.pay("S-3", "NOPE", "1234567890", 100)),
        ("POST", f"{p}/pays", await c.request("POST", "/pays", {"x": 1}, idempotency_key="K")),
        ("GET", f"{p}/account", await c.send_raw("GET", "/account", b"", {})),
    ]
    for method, path, r in errors:
        assert r.status_code >= 400
        _check(doc, method, path, r)
