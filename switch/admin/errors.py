"""The admin API's errors: one JSON shape, stable codes, messages per field.

    {"error": {"code": "invalid_request", "message": "2 fields are invalid",
               "fields": {"pan": "PAN must be 5 letters, 4 digits and a letter"}}}

| code | status | when |
|---|---|---|
| invalid_request | 422 | a field is missing or invalid (``fields`` says which and why) |
| unauthorized | 401 | no token, or an expired or revoked one |
| bad_credentials | 401 | wrong username or password |
| account_locked | 423 | too many failed sign-ins to this login (``Retry-After``) |
| too_many_attempts | 429 | too many failed sign-ins from this address (``Retry-After``) |
| forbidden | 403 | the role may not do this |
| not_found | 404 | no such object (or not yours) |
| duplicate | 409 | PAN, FPS id or username already used |
| invalid_state | 409 | not allowed in the object's current state |
| four_eyes | 409 | the one who entered it may not approve it |
| insufficient_funds | 409 | the wallet does not hold enough |
| limit_exceeded | 409 | beyond a wallet limit |
| too_large | 413 | an upload over the size limit |
| unsupported_type | 415 | an upload that is not JPEG, PNG or PDF |
| biller_unavailable | 503 | the biller could not be reached (its report): try again later |
| internal_error | 500 | a bug: logged with its request |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from switch.admin.field_errors import field_errors

log = logging.getLogger("switch.admin")

STATUS = {
    "invalid_request": 422,
    "unauthorized": 401,
    "bad_credentials": 401,
    "account_locked": 423,
    "too_many_attempts": 429,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "duplicate": 409,
    "invalid_state": 409,
    "four_eyes": 409,
    "insufficient_funds": 409,
    "limit_exceeded": 409,
    "gone": 410,
    "too_large": 413,
    "unsupported_type": 415,
    "biller_unavailable": 503,
    "unavailable": 503,
    "internal_error": 500,
}


class ApiError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        assert code in STATUS, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return STATUS[self.code]


def body_of(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        page = getattr(request.app.state, "html_error", None)
        if page is not None and page.serves(request.url.path):
            html: Response = page(request, exc)
            return html
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
        return JSONResponse(
            body_of(exc.code, exc.message, exc.fields), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc.errors())
        message = f"{len(fields)} field{'s' if len(fields) != 1 else ''} invalid"
        return JSONResponse(body_of("invalid_request", message, fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "invalid_request"
        )
        page = getattr(request.app.state, "html_error", None)
        if page is not None and page.serves(request.url.path):
            html: Response = page(request, ApiError(code, str(exc.detail)))
            return html
        return JSONResponse(body_of(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("admin API %s %s failed", request.method, request.url.path)
        return JSONResponse(body_of("internal_error", "internal error"), status_code=500)


class LimitBody:
    """ASGI middleware: one size limit on every request body, whatever its content type,
    enforced while it streams in (a declared Content-Length over it is refused before
    reading; a body that grows past it is cut off at the limit): nothing is held in
    memory beyond it. Uploads (multipart) get ``max_upload_bytes`` plus room for their
    form fields; every other body ``max_body_bytes``."""

    UPLOAD_OVERHEAD_BYTES = 64 * 1024

    # Uploads of import files (docs/imports.md): their own, larger limit.
    IMPORT_PATHS = ("/v1/imports/", "/office/imports", "/v1/payers/")  # and bill files

    def __init__(
        self, app: Any, max_body_bytes: int, max_upload_bytes: int, max_import_bytes: int = 0
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes + self.UPLOAD_OVERHEAD_BYTES
        self.max_import_bytes = max(max_import_bytes, max_upload_bytes) + self.UPLOAD_OVERHEAD_BYTES

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_upload_bytes if multipart else self.max_body_bytes
        if multipart and str(scope.get("path", "")).startswith(self.IMPORT_PATHS):
            limit = self.max_import_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0
        refused = started = False

        async def limited() -> dict[str, Any]:
            nonlocal seen, refused
            message: dict[str, Any] = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                refused = True
                return {"type": "http.disconnect"}  # the route stops reading here
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if not refused:
                started = True
                await send(message)

        await self.app(scope, limited, guarded_send)
        if refused and not started:
            await self._refuse(scope, send, limit)

    @staticmethod
    async def _refuse(scope: dict[str, Any], send: Any, limit: int) -> None:
        response = JSONResponse(
            body_of("too_large", f"a request body is at most {limit} bytes"), status_code=413
        )

        async def nothing() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


class RefuseNul:
    """ASGI middleware: a NUL character in the path, the query or a JSON body is refused
    as ``invalid_request`` before any route sees it (PostgreSQL text cannot hold one,
    and no field of ours has a use for it). Uploads (multipart) are not JSON and pass."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        bad = "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query
        headers = dict(scope.get("headers", []))
        if not bad and _is_json(headers.get(b"content-type", b"")):
            body, more = b"", True
            while more and len(body) <= self.max_body_bytes:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            bad = b"\x00" in body or b"\\u0000" in body
            replay = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:  # the body, replayed once
                return replay.pop() if replay else {"type": "http.disconnect"}

        if bad:
            response = JSONResponse(
                body_of("invalid_request", "NUL characters are not allowed"), status_code=422
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_json(content_type: bytes) -> bool:
    """application/json or any +json type, in any letter case (FastAPI parses them all)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "enum": sorted(STATUS)},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "one message per field at fault, by its name",
                    "additionalProperties": {"type": "string"},
                },
            },
        }
    },
}


def document_errors(app: FastAPI) -> None:  # and the answers: switch/admin/answers.py
    """The spec says what an error really looks like: every operation's 422 is the
    Error body (not FastAPI's default ``detail`` list, which this API never sends),
    and any other error an operation can answer (401, 403, 404, 409, 413, 429, ...)
    is its ``default`` response, the same body with its ``code``."""
    from switch.admin.answers import document_answers

    def each(responses: dict[str, Any], body: dict[str, Any]) -> None:
        if "422" in responses:
            responses["422"] = {
                "description": "invalid request: a message per field at fault",
                "content": body,
            }

    spec_with_errors(app, ERROR_SCHEMA, each, document_answers)


def spec_with_errors(
    app: FastAPI,
    error_schema: dict[str, Any],
    each: Callable[[dict[str, Any], dict[str, Any]], None],
    finish: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Make ``app``'s spec name ``error_schema`` as every operation's ``default``
    answer (FastAPI's validation-error schemas, never sent, left out); ``each`` is
    given every operation's responses and the error body to adjust them, ``finish``
    the whole spec. (The admin API's and the partner API's specs.)"""
    make_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = make_schema()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Error"] = error_schema
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                each(responses, body)
                responses["default"] = {
                    "description": "an error: its `code` says which",
                    "content": body,
                }
        if finish is not None:
            finish(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
