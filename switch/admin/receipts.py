"""Receipts: a posted pay's PDF, in English and Hindi (switch/receipts/).

- ``GET /v1/transactions/{txn_id}/receipt.pdf``: staff, and an agent for its own pays.
- ``GET /r/{code}``: the short link a pay's SMS carries, for the consumer, who has no
  login: the signed code is the permission (switch/receipts/links.py). A code that
  is not ours, or names no posted pay, is 404 whatever the reason.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from switch.admin.auth import Principal
from switch.admin.common import RowId, deps_of
from switch.admin.errors import ApiError
from switch.admin.roles import allow
from switch.receipts.pdf import Receipt, render
from switch.receipts.store import receipt_of

router = APIRouter(tags=["receipts"])
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the receipt"}
}


def pdf_response(receipt: Receipt) -> Response:
    return Response(
        render(receipt),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="receipt-{receipt.txn_id}.pdf"',
            "Cache-Control": "private, max-age=3600",
        },
    )


async def receipt_for(request: Request, txn_id: int, who: Principal | None) -> Receipt:
    """The pay's receipt if ``who`` may see it (None: the holder of a signed link)."""
    deps = deps_of(request)
    found = await receipt_of(deps.db, txn_id)
    if found is None or (who is not None and not who.sees_agent(found[0])):
        raise ApiError("not_found", f"no receipt for transaction {txn_id}")
    receipt = found[1]
    links = deps.receipt_links
    return receipt if links is None else dataclasses.replace(receipt, link=links.url(txn_id))


@router.get(
    "/v1/transactions/{txn_id}/receipt.pdf",
    summary="A posted pay's receipt (PDF, English and Hindi)",
    responses=PDF,
)
async def receipt(
    txn_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("transactions.read"))],
) -> Response:
    return pdf_response(await receipt_for(request, txn_id, who))


@router.get("/r/{code}", include_in_schema=False)
async def by_link(code: str, request: Request) -> Response:
    links = deps_of(request).receipt_links
    txn_id = links.read(code) if links is not None and len(code) <= 40 else None
    if txn_id is None:
        raise ApiError("not_found", "no such receipt: check the link in the SMS")
    return pdf_response(await receipt_for(request, txn_id, None))
