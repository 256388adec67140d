"""/v1/partners: onboarding banks, the post office and aggregators for the partner API.

A partner is created active with an empty prefunded account and its first Ed25519
key; the private key is in this answer only (it is never stored: keep it, or make a
new one). Fund the account as an agent's wallet is funded
(``POST /v1/agents/{id}/wallet/topups``); set its limits, freeze or block it with the
agents' and wallets' routes too. A revoked key is refused by every switch process
within ``[partners] key_refresh_s``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.admin.models import Strict
from switch.admin.roles import allow
from switch.partners import store
from switch.partners.store import PartnerError

router = APIRouter(prefix="/v1", tags=["partners"])
PartnerId = Annotated[str, Path(pattern=r"^PA[0-9]{6}$")]
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class PartnerIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    mobile: Annotated[str, Field(pattern=r"^[6-9][0-9]{9}$", description="a contact's")]
    institution: Literal["bank", "post_office", "aggregator"]


def _refused(exc: PartnerError) -> ApiError:
    code = {"not_found": "not_found", "invalid_state": "invalid_state"}.get(exc.code)
    fields = {exc.field: exc.message} if exc.field else None
    return ApiError(code or "invalid_request", exc.message, fields)


@router.post("/partners", status_code=201, summary="Onboard a partner (its first key, once)")
async def add(
    body: PartnerIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("partners.manage"))],
) -> dict[str, Any]:
    deps = deps_of(request)
    try:
        partner, key = await store.add_partner(
            deps.db, deps.ledger, body.name, body.mobile, body.institution, who.username
        )
    except PartnerError as exc:
        raise _refused(exc) from exc
    await deps.policy.refresh()  # its limits, here at once (elsewhere within seconds)
    return partner | {"key": key.shown()}


@router.get("/partners", summary="Partners, their balances and keys")
async def partners(
    request: Request, who: Annotated[Principal, Depends(allow("partners.read"))]
) -> dict[str, Any]:
    return {"items": await store.list_partners(deps_of(request).db)}


@router.post(
    "/partners/{partner_id}/keys",
    status_code=201,
    summary="Another signing key (to roll to it); the private key, once",
)
async def add_key(
    partner_id: PartnerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("partners.manage"))],
) -> dict[str, Any]:
    try:
        return (await store.add_key(deps_of(request).db, partner_id, who.username)).shown()
    except PartnerError as exc:
        raise _refused(exc) from exc


@router.post(
    "/partners/{partner_id}/keys/{key_id}/revoke",
    summary="Revoke a key for ever (refused everywhere within key_refresh_s)",
)
async def revoke_key(
    partner_id: PartnerId,
    key_id: KeyId,
    request: Request,
    who: Annotated[Principal, Depends(allow("partners.manage"))],
) -> dict[str, Any]:
    try:
        return await store.revoke_key(deps_of(request).db, partner_id, key_id, who.username)
    except PartnerError as exc:
        raise _refused(exc) from exc
