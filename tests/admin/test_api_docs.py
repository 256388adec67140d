"""/v1/docs works on a machine without internet (Swagger UI from the package), and
the spec describes the errors the API really sends."""

from __future__ import annotations

import jsonschema

from tests.admin.conftest import Admin


async def test_the_docs_page_loads_nothing_from_outside(admin: Admin) -> None:
    page = await admin.http.get("/v1/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in (
        "/static/swagger/swagger-ui-bundle.js",
        "/static/swagger/swagger-ui.css",
        "/static/swagger/init.js",
    ):
        got = await admin.http.get(asset)
        assert got.status_code == 200 and len(got.content) > 100, asset


async def test_the_spec_documents_the_error_shape_that_is_sent(admin: Admin) -> None:
    spec = (await admin.http.get("/v1/openapi.json")).json()
    error_schema = spec["components"]["schemas"]["Error"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) > 30
    for op in operations:
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        if "422" in op["responses"]:
            assert (
                "Error" in op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
            )
    # What is sent matches it: a field error, an unknown token, a missing object.
    bad = await admin.call("finance", "POST", "/v1/agents/AG999999/wallet/topups", json={})
    unknown = await admin.http.get("/v1/me", headers={"Authorization": "Bearer nope"})
    missing = await admin.call("operations", "GET", "/v1/transactions/999")
    for r, status in ((bad, 422), (unknown, 401), (missing, 404)):
        assert r.status_code == status
        jsonschema.validate(r.json(), error_schema)
    assert set(bad.json()["error"]["fields"]) == {"amount_paise", "bank_ref"}
