"""Payment links in the back office, and the gateway's callback.

- ``POST /v1/billers/{biller}/demands``: a biller's demand (a water committee's
  monthly demand, a discom's bills falling due) pushed as a list of consumers: each
  bill is fetched live and its link sent by SMS. Answered consumer by consumer.
- ``GET /v1/links``, ``GET /v1/links/{id}``: links, with their orders and pays.
- ``POST /v1/gateway/callback``: the gateway's word on an order, signed with the
  shared secret (HMAC-SHA256 of the body's bytes in ``X-Gateway-Signature``). A
  forged or unsigned callback is 401, an unknown order 404; a duplicate or late one
  is 200 and changes nothing (``switch/links/orders.py``, rules 1-2).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import trio
from fastapi import APIRouter, Depends, Request
from pydantic import Field

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, RowId, deps_of, page
from switch.admin.errors import ApiError
from switch.admin.models import Strict
from switch.admin.roles import allow
from switch.db.rows import json_ready
from switch.links import store
from switch.links.gateway import SIGNATURE_HEADER, read_word, signed_by_gateway
from switch.links.service import LinkService
from switch.pays.service import RequestFailed

router = APIRouter(prefix="/v1", tags=["payment links"])
DEMAND_CONCURRENCY = 8  # bills fetched at once for one push


class DemandConsumer(Strict):
    account: Annotated[str, Field(min_length=1, max_length=32)]
    params: dict[str, Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict, description="the biller's other customer parameters by name"
    )
    mobile: Annotated[str, Field(pattern=r"^[6-9][0-9]{9}$")] | None = Field(
        None, description="where the SMS goes (default: the mobile the biller has)"
    )
    language: Literal["en", "hi"] | None = Field(
        None, description="of the SMS and the page (default: English)"
    )


class DemandIn(Strict):
    consumers: Annotated[list[DemandConsumer], Field(min_length=1, max_length=1000)]


def _links(request: Request) -> LinkService:
    deps = deps_of(request)
    if deps.links is None:
        if deps.cfg.gateway.enabled:  # the switch is starting: it serves before they do
            raise ApiError("unavailable", "payment links are starting; try again in a moment")
        raise ApiError("invalid_state", "payment links are off ([gateway] enabled = false)")
    return deps.links


@router.post(
    "/billers/{biller_id}/demands",
    summary="Send payment links for a biller's demand: each bill fetched live, its link by SMS",
)
async def push_demand(
    biller_id: str,
    body: DemandIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("links.send"))],
) -> dict[str, Any]:
    links = _links(request)
    if len(body.consumers) > deps_of(request).cfg.gateway.max_demand:
        raise ApiError("too_large", "more consumers than [gateway] max_demand in one push")
    results: list[dict[str, Any]] = [{} for _ in body.consumers]
    slots = trio.Semaphore(DEMAND_CONCURRENCY)

    async def one(i: int, c: DemandConsumer) -> None:
        async with slots:
            try:
                row = await links.issue(
                    biller_id, c.account, c.params, c.mobile, c.language, who.username
                )
                results[i] = {
                    "account": c.account,
                    "link_id": row["id"],
                    "state": row["state"],
                    "amount_paise": row["amount_paise"],
                    "url": links.links.url(row["id"]),
                }
            except RequestFailed as exc:
                results[i] = {"account": c.account, "error": exc.code.value, "detail": exc.message}
            except store.LinkRefused as exc:
                results[i] = {"account": c.account, "error": exc.code, "detail": exc.message}

    async with trio.open_nursery() as nursery:
        for i, c in enumerate(body.consumers):
            nursery.start_soon(one, i, c)
    sent = sum("link_id" in r for r in results)
    return {"sent": sent, "refused": len(results) - sent, "results": results}


@router.get("/links", summary="Payment links, newest first")
async def list_links(
    request: Request,
    who: Annotated[Principal, Depends(allow("links.read"))],
    biller: str | None = None,
    account: str | None = None,
    state: Literal["open", "paid", "expired"] | None = None,
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    rows = await deps_of(request).read_db.fetch(
        """SELECT id, biller_id, consumer_account, mobile, amount_paise, due_date, state,
                  paid_order, expires_at, created_by, created_at
             FROM pay_links
            WHERE ($1::text IS NULL OR biller_id = $1)
              AND ($2::text IS NULL OR consumer_account = $2)
              AND ($3::text IS NULL OR state = $3) AND ($4::bigint IS NULL OR id < $4)
            ORDER BY id DESC LIMIT $5""",
        biller,
        account,
        state,
        after,
        limit + 1,
    )
    return page([json_ready(r) for r in rows], limit)


@router.get("/links/{link_id}", summary="A payment link: its bill, orders and pays")
async def get_link(
    link_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("links.read"))],
) -> dict[str, Any]:
    db = deps_of(request).db
    link = await store.link_by_id(db, link_id)
    if link is None:
        raise ApiError("not_found", f"no payment link {link_id}")
    shown = json_ready(link)
    shown["consumer_params"] = json.loads(link["consumer_params"])
    shown["orders"] = [json_ready(o) for o in await store.orders_of(db, link_id)]
    return shown


@router.post("/gateway/callback", include_in_schema=False)
async def gateway_callback(request: Request) -> dict[str, Any]:
    links = _links(request)
    body = await request.body()
    secret = deps_of(request).cfg.gateway.secret
    if not signed_by_gateway(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise ApiError("unauthorized", f"{SIGNATURE_HEADER}: not the gateway's signature")
    try:
        word = read_word(json.loads(body))
    except ValueError as exc:
        raise ApiError("invalid_request", f"not a gateway callback: {exc}") from exc
    outcome = await links.on_word(word, "callback")
    if outcome == "unknown_order":
        raise ApiError("not_found", f"no order {word.order_id}")
    if outcome == "amount_mismatch":
        raise ApiError("invalid_state", f"order {word.order_id} is for another amount")
    return {"order_id": word.order_id, "outcome": outcome}
