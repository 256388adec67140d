"""The partner API as an ASGI app (FastAPI), on its own port (``[partners] port``).

Every route first checks the request's signature over the exact bytes it was sent
(switch/partners/signing.py, switch/partners/guard.py), then parses the body, then
asks the terminal service what a terminal asking the same thing would be answered:
the same catalogue checks, bill references, limits, pay machine, ledger, biller
actors and recovery. The partner is the "terminal" and the "agent" of its pays, and
its Idempotency-Key is the pay's reference, so a retry with the same key is the
same pay, on any switch process.

docs/partner-api.md is the guide; the spec is at ``/partner/v1/openapi.json``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from switch import __version__
from switch.actors.terminal import UNAVAILABLE_ERRORS
from switch.admin.complaints import log_complaint
from switch.admin.errors import LimitBody, RefuseNul, spec_with_errors
from switch.config import AdminConfig
from switch.db import Connection
from switch.db.batch import BatcherBusy
from switch.db.database import Database
from switch.db.rows import json_ready
from switch.ledger import Ledger
from switch.ops.metrics import SwitchMetrics
from switch.partners import answers, errors
from switch.partners.errors import PartnerApiError
from switch.partners.guard import Guard
from switch.partners.models import (
    IDEMPOTENCY_HEADER,
    ComplaintIn,
    FetchIn,
    PayIn,
    body_spec,
    parsed,
)
from switch.partners.signing import SignatureRefused
from switch.pays.limits import WalletPolicy
from switch.pays.service import RequestFailed, TerminalContext, TerminalService
from switch.protocols.terminal import messages as m
from switch.protocols.terminal.requests import (
    CatalogueRequest,
    FetchBill,
    PayRequest,
    StatusRequest,
)
from switch.receipts.pdf import Receipt, render
from switch.receipts.store import receipt_of

OPENAPI_PATH = "/partner/v1/openapi.json"
MAX_BODY_BYTES = 64 * 1024
CHANNEL = "partner"
SIGNED = {
    "parameters": [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
        for h in ("X-Partner-Key", "X-Timestamp", "X-Nonce", "X-Signature")
    ]
}
IDEMPOTENT = {
    "parameters": [
        *SIGNED["parameters"],
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "1-32 of A-Z a-z 0-9 _ -: the request's identity, retries included",
            "schema": {"type": "string", "pattern": f"^{m.ID_RE.pattern}$"},
        },
    ]
}


@dataclass
class PartnerDeps:
    service: TerminalService
    guard: Guard
    db: Database
    ledger: Ledger
    policy: WalletPolicy
    admin: AdminConfig  # complaints' turnaround
    metrics: SwitchMetrics | None = None


router = APIRouter(prefix="/partner/v1", tags=["partner"])


def deps_of(request: Request) -> PartnerDeps:
    deps: PartnerDeps = request.app.state.deps
    return deps


async def _signed(request: Request) -> tuple[TerminalContext, bytes]:
    """The partner that signed this request (as the service's context), and its body."""
    body = await request.body()
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw}
    try:
        key = await deps_of(request).guard.check(request.method, target, headers, body)
    except SignatureRefused as exc:
        raise PartnerApiError(exc.code, exc.message) from exc
    ctx = TerminalContext(key.partner_id, key.partner_id, key.wallet_account_id, CHANNEL)
    return ctx, body


def _idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or not m.ID_RE.fullmatch(key):
        raise PartnerApiError(
            "invalid_request",
            "Idempotency-Key: 1-32 of A-Z a-z 0-9 _ - is required",
            {"Idempotency-Key": "required: 1-32 of A-Z a-z 0-9 _ -"},
        )
    return key


async def _answered(
    request: Request, operation: str, answer: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """The service's answer, or its refusal as the partner API's error; counted and
    timed per operation."""
    started = time.perf_counter()
    code = "ok"
    try:
        return await answer()
    except PartnerApiError as exc:
        code = exc.code
        raise
    except RequestFailed as exc:
        code = exc.code.value if exc.code.value in errors.STATUS else "internal_error"
        raise PartnerApiError(code, exc.message) from exc
    except BatcherBusy as exc:
        code = "busy"
        raise PartnerApiError(code, str(exc)) from exc
    except UNAVAILABLE_ERRORS as exc:
        code = "unavailable"
        raise PartnerApiError(code, "the switch cannot reach its database just now") from exc
    except Exception:
        code = "internal_error"
        raise
    finally:
        metrics = deps_of(request).metrics
        if metrics is not None:
            metrics.observe_partner_request(operation, code, time.perf_counter() - started)


def _without_type(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "type"}


@router.get(
    "/catalogue",
    summary="The billers offered to partners",
    openapi_extra=SIGNED,
    responses={200: {"model": answers.Catalogue}},
)
async def catalogue(request: Request, version: str | None = None) -> dict[str, Any]:
    async def answer() -> dict[str, Any]:
        ctx, _ = await _signed(request)
        if version is not None and not m.VERSION_RE.fullmatch(version):
            raise PartnerApiError(
                "invalid_request", "version: 16 hex digits", {"version": "16 hex digits"}
            )
        body = await deps_of(request).service.catalogue(ctx, CatalogueRequest(0, version))
        if "billers" in body:
            body["billers"] = [b for b in body["billers"] if CHANNEL in b["channels"]]
        return _without_type(body)

    return await _answered(request, "catalogue", answer)


@router.post(
    "/bills/fetch",
    summary="Fetch a consumer's bill; its bill_ref goes with the pay",
    openapi_extra=SIGNED | body_spec(FetchIn),
    responses={200: {"model": answers.Bill}},
)
async def fetch(request: Request) -> dict[str, Any]:
    async def answer() -> dict[str, Any]:
        ctx, raw = await _signed(request)
        f = parsed(FetchIn, raw)
        req = FetchBill(0, f.biller, f.account, f.params)
        return _without_type(await deps_of(request).service.fetch_bill(ctx, req))

    return await _answered(request, "fetch", answer)


@router.post(
    "/pays",
    summary="Pay a bill from the prefunded account (idempotent on Idempotency-Key)",
    openapi_extra=IDEMPOTENT | body_spec(PayIn),
    responses={
        200: {"model": answers.PayResult, "description": "success, or failed with its code"},
        202: {"model": answers.PayResult, "description": "pending: ask GET /pays/{ref}"},
    },
)
async def pay(request: Request) -> JSONResponse:
    async def answer() -> dict[str, Any]:
        ctx, raw = await _signed(request)
        ref = _idempotency_key(request)
        p = parsed(PayIn, raw)
        req = PayRequest(
            0, ref, p.biller, p.account, p.amount_paise, p.mobile, p.params, p.bill_ref
        )
        return await deps_of(request).service.pay(replace(ctx, language=p.language), req)

    return _pay_answer(await _answered(request, "pay", answer))


@router.get(
    "/pays/{ref}",
    summary="A pay's outcome by its Idempotency-Key (an unfinished pay is driven on)",
    openapi_extra=SIGNED,
    responses={
        200: {"model": answers.PayResult, "description": "success, or failed with its code"},
        202: {"model": answers.PayResult, "description": "still pending"},
    },
)
async def status(ref: str, request: Request) -> JSONResponse:
    async def answer() -> dict[str, Any]:
        ctx, _ = await _signed(request)
        if not m.ID_RE.fullmatch(ref):
            raise PartnerApiError("invalid_request", "ref: 1-32 of A-Z a-z 0-9 _ -")
        return await deps_of(request).service.status(ctx, StatusRequest(0, ref))

    return _pay_answer(await _answered(request, "status", answer))


@router.get(
    "/pays/{ref}/receipt.pdf",
    summary="A posted pay's receipt (PDF, English and Hindi) by its Idempotency-Key",
    openapi_extra=SIGNED,
    responses={200: {"content": {"application/pdf": {}}, "description": "the receipt"}},
)
async def receipt(ref: str, request: Request) -> Response:
    async def answer() -> Receipt:
        ctx, _ = await _signed(request)
        pay_id = await deps_of(request).db.fetchval(
            "SELECT pay_id FROM pay_refs WHERE terminal_id = $1 AND terminal_ref = $2",
            ctx.terminal_id,
            ref,
        )
        found = await receipt_of(deps_of(request).db, pay_id) if pay_id else None
        if found is None:
            raise PartnerApiError("unknown_reference", f"no posted pay with key {ref}")
        return found[1]

    return Response(render(await answer()), media_type="application/pdf")


def _pay_answer(body: dict[str, Any]) -> JSONResponse:
    """200 with the outcome (success or failed, with its code); 202 while pending."""
    return JSONResponse(
        _without_type(body), status_code=202 if body["status"] == "pending" else 200
    )


@router.get(
    "/account",
    summary="The prefunded account: balance and limits",
    openapi_extra=SIGNED,
    responses={200: {"model": answers.Account}},
)
async def account(request: Request) -> dict[str, Any]:
    async def answer() -> dict[str, Any]:
        ctx, _ = await _signed(request)
        deps = deps_of(request)
        limits = deps.policy.limits(ctx.agent_id)
        return {
            "partner": ctx.agent_id,
            "balance_paise": await deps.ledger.balance(ctx.wallet_account_id),
            "per_txn_paise": limits.per_txn_paise,
            "per_day_paise": limits.per_day_paise,
            "frozen": limits.frozen,
        }

    return await _answered(request, "account", answer)


@router.post(
    "/complaints",
    status_code=201,
    summary="Raise a complaint about a pay (idempotent on Idempotency-Key)",
    openapi_extra=IDEMPOTENT | body_spec(ComplaintIn),
    responses={
        201: {"model": answers.Complaint, "description": "raised"},
        200: {"model": answers.Complaint, "description": "raised before with this key"},
    },
)
async def complain(request: Request) -> JSONResponse:
    async def answer() -> dict[str, Any]:
        ctx, raw = await _signed(request)
        key = _idempotency_key(request)
        body = parsed(ComplaintIn, raw)
        deps = deps_of(request)
        return await deps.db.run(lambda conn: _complain(conn, deps, ctx, key, body))

    shown = await _answered(request, "complaint", answer)
    return JSONResponse(shown, status_code=201 if shown.pop("created") else 200)


async def _complain(
    conn: Connection, deps: PartnerDeps, ctx: TerminalContext, key: str, body: ComplaintIn
) -> dict[str, Any]:
    async with conn.transaction():
        # One complaint per key: a retry finds it (the unique index decides a race).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{ctx.agent_id}:{key}")
        earlier = await conn.fetchrow(
            """SELECT c.*, p.terminal_ref FROM complaints c LEFT JOIN pays p ON p.id = c.pay_id
                WHERE c.agent_id = $1 AND c.partner_ref = $2""",
            ctx.agent_id,
            key,
        )
        if earlier is not None:
            same = (earlier["terminal_ref"], earlier["category"], earlier["description"]) == (
                body.ref,
                body.category,
                body.description,
            )
            if not same:
                raise PartnerApiError(
                    "reference_reused", f"Idempotency-Key {key} raised complaint {earlier['id']}"
                )
            return _complaint_shown(earlier) | {"created": False}
        pay_id = await conn.fetchval(
            "SELECT pay_id FROM pay_refs WHERE terminal_id = $1 AND terminal_ref = $2",
            ctx.terminal_id,
            body.ref,
        )
        if pay_id is None:
            raise PartnerApiError("unknown_reference", f"no pay with Idempotency-Key {body.ref}")
        row = await log_complaint(
            conn,
            deps.admin,
            kind="transaction",
            category=body.category,
            pay_id=pay_id,
            agent_id=ctx.agent_id,
            description=body.description,
            raised_by=f"partner:{ctx.agent_id}",
            partner_ref=key,
        )
        return _complaint_shown(row) | {"created": True, "ref": body.ref}


@router.get(
    "/complaints/{complaint_id}",
    summary="A complaint: its state, turnaround and history",
    openapi_extra=SIGNED,
    responses={200: {"model": answers.ComplaintWithHistory}},
)
async def complaint(complaint_id: int, request: Request) -> dict[str, Any]:
    async def answer() -> dict[str, Any]:
        ctx, _ = await _signed(request)

        async def read(conn: Connection) -> dict[str, Any]:
            row = await conn.fetchrow(
                """SELECT c.*, p.terminal_ref FROM complaints c
                     LEFT JOIN pays p ON p.id = c.pay_id
                    WHERE c.id = $1 AND c.agent_id = $2""",
                complaint_id,
                ctx.agent_id,
            )
            if row is None:
                raise PartnerApiError("not_found", f"no complaint {complaint_id}")
            events = await conn.fetch(
                """SELECT action, from_state, to_state, note, at FROM complaint_events
                    WHERE complaint_id = $1 ORDER BY id""",
                complaint_id,
            )
            return _complaint_shown(row) | {"history": [json_ready(e) for e in events]}

        return await deps_of(request).db.run(read)

    return await _answered(request, "complaint_status", answer)


def _complaint_shown(row: asyncpg.Record) -> dict[str, Any]:
    """What a partner is told of a complaint (not the staff's assignment)."""
    r = json_ready(row)
    return {
        "id": r["id"],
        "ref": r.get("terminal_ref"),
        "txn": r["pay_id"],
        "category": r["category"],
        "description": r["description"],
        "state": r["state"],
        "due_at": r["due_at"],
        "created_at": r["created_at"],
        "resolution": r.get("resolution"),
        "refund_paise": r.get("refund_paise"),
    }


def create_partner_app(deps: PartnerDeps | None) -> Any:
    """The app (``deps`` None: only to write its spec, switch/partners/spec.py)."""
    app = FastAPI(
        title="Bill-payment switch: partner API",
        version=__version__,
        description="For banks, the post office and aggregators: the biller catalogue, "
        "bill fetch, pay from a prefunded account, status and complaints. Every request "
        "is signed with the partner's Ed25519 key (docs/partner-api.md).",
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
    )
    app.state.deps = deps
    errors.install(app)
    app.include_router(router)
    _document_errors(app)
    app.add_middleware(RefuseNul, max_body_bytes=MAX_BODY_BYTES)
    app.add_middleware(LimitBody, max_body_bytes=MAX_BODY_BYTES, max_upload_bytes=0)
    return app


def _document_errors(app: FastAPI) -> None:
    """Every operation's other answers are the Error body, with its code; each answer's
    schema is its documented model (not the route's ``dict``)."""

    def each(responses: dict[str, Any], body: dict[str, Any]) -> None:
        responses.pop("422", None)
        for answer in responses.values():
            content = answer.get("content", {}).get("application/json", {})
            if "$ref" in content.get("schema", {}):
                content["schema"] = {"$ref": content["schema"]["$ref"]}

    spec_with_errors(app, errors.ERROR_SCHEMA, each)
