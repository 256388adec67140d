"""The partner API's errors: one JSON shape, a stable code, an HTTP status.

    {"error": {"code": "bad_signature", "message": "the signature does not verify"}}

A pay's own outcome is not an error: a pay the switch decided (paid, or failed with
its reason) is answered 200 with ``status`` and ``code`` in the body; these errors are
for requests the switch did not act on, or acted on only as far as they say.

| code | status | when | what was done |
|---|---|---|---|
| unsigned | 401 | a signature header is missing or badly formed | nothing |
| stale_request | 401 | X-Timestamp too far from the switch's clock | nothing |
| unknown_key | 401 | no such key, or a revoked one | nothing |
| bad_signature | 401 | the signature does not verify | nothing |
| replayed | 401 | the nonce was used before with this key | nothing (the first one stands) |
| partner_blocked | 403 | the partner is blocked | nothing |
| invalid_request | 422 | a field, header or parameter missing or invalid (``fields``) | nothing |
| unknown_biller | 404 | no such biller, or not offered to partners | nothing |
| unknown_consumer | 404 | the biller knows no such consumer | nothing |
| unknown_reference | 404 | no pay with this idempotency key from this partner | nothing |
| not_found | 404 | no such complaint (or not yours), or no such path | nothing |
| reference_reused | 409 | the idempotency key was used for a different request | nothing |
| bill_mismatch | 409 | the bill_ref is altered, expired, another consumer's | nothing |
| fetch_required | 422 | this biller takes a pay only with a fetched bill_ref | nothing |
| invalid_amount | 422 | the amount breaks the biller's amount rule | nothing |
| method_not_allowed | 405 | | nothing |
| too_large | 413 | a body over 64 KiB | nothing |
| busy | 503 | the switch is overloaded (``Retry-After``) | retry with the same key |
| unavailable | 503 | the switch cannot reach its database | retry with the same key |
| biller_unavailable | 503 | the biller cannot be reached; nothing was debited | retry later |
| internal_error | 500 | a fault in the switch, logged | retry with the same key |
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from switch.admin.errors import body_of
from switch.admin.field_errors import field_errors

log = logging.getLogger("switch.partners")

STATUS = {
    "unsigned": 401,
    "stale_request": 401,
    "unknown_key": 401,
    "bad_signature": 401,
    "replayed": 401,
    "partner_blocked": 403,
    "invalid_request": 422,
    "unknown_biller": 404,
    "unknown_consumer": 404,
    "unknown_reference": 404,
    "not_found": 404,
    "reference_reused": 409,
    "bill_mismatch": 409,
    "fetch_required": 422,
    "invalid_amount": 422,
    "method_not_allowed": 405,
    "too_large": 413,
    "busy": 503,
    "unavailable": 503,
    "biller_unavailable": 503,
    "internal_error": 500,
}
RETRY_AFTER_S = {"busy": 1, "unavailable": 5, "biller_unavailable": 30}


class PartnerApiError(Exception):
    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        assert code in STATUS, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}


def error_response(code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    retry = RETRY_AFTER_S.get(code)
    headers = {"Retry-After": str(retry)} if retry else None
    return JSONResponse(body_of(code, message, fields), status_code=STATUS[code], headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(PartnerApiError)
    async def partner_error(request: Request, exc: PartnerApiError) -> Response:
        return error_response(exc.code, exc.message, exc.fields)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = field_errors(exc.errors())
        message = f"{len(fields)} field{'s' if len(fields) != 1 else ''} invalid"
        return error_response("invalid_request", message, fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return error_response(code or "invalid_request", str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("partner API %s %s failed", request.method, request.url.path)
        return error_response("internal_error", "internal error")


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted(STATUS)},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}
