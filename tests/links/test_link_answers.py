"""The payment links' routes answer what the admin API's spec documents (the rest of
the API is checked in tests/admin/test_answers_match_the_spec.py, without a gateway)."""

from __future__ import annotations

from simulators.discom.simulator import discom_account
from switch.admin.answers import LINK_ROUTES
from tests.admin.test_answers_match_the_spec import check
from tests.links.conftest import LinkWorld
from tests.links.test_payment_links import approve, path_of, start_paying


async def test_each_link_answer_is_what_the_spec_documents(links: LinkWorld) -> None:
    spec = (await links.admin.http.get("/v1/openapi.json")).json()
    body = {"consumers": [{"account": discom_account(1, 29), "mobile": "9876512353"},
                          {"account": "2001999999"}]}  # fmt: skip
    r = await links.admin.call("operations", "POST", "/v1/billers/UPPCL/demands", json=body)
    check(spec, "POST", "/v1/billers/{biller_id}/demands", 200, r)
    link_id = r.json()["results"][0]["link_id"]
    order_id = await start_paying(links, path_of(r.json()["results"][0]["url"]))
    await approve(links, order_id)
    assert await links.order_state(order_id, "paid") == "paid"
    listed = await links.admin.call("support", "GET", "/v1/links?state=paid")
    check(spec, "GET", "/v1/links", 200, listed)
    assert [x["id"] for x in listed.json()["items"]] == [link_id]
    one = await links.admin.call("finance", "GET", f"/v1/links/{link_id}")
    check(spec, "GET", "/v1/links/{link_id}", 200, one)
    assert one.json()["orders"][0]["state"] == "paid"
    assert {("POST", "/v1/billers/{biller_id}/demands"), ("GET", "/v1/links"),
            ("GET", "/v1/links/{link_id}")} == LINK_ROUTES  # fmt: skip
    missing = await links.admin.call("finance", "GET", "/v1/links/999999")
    assert missing.status_code == 404
