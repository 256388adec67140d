"""/v1/billers: each biller this process talks to, and its circuit breaker.

A breaker is per process (each switch process watches its own calls), so the answer
is this process's view; behind HAProxy, each node answers for itself (and
``switch_biller_breaker_state`` on /metrics has them all)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.roles import allow
from switch.catalogue import store as catalogue_store

router = APIRouter(prefix="/v1", tags=["billers"])


@router.get("/billers", summary="Billers and their circuit breakers (this process's view)")
async def billers(
    request: Request, who: Annotated[Principal, Depends(allow("billers.read"))]
) -> dict[str, Any]:
    return {"items": biller_states(request)}


@router.get(
    "/catalogue",
    summary="The biller catalogue: what terminals are told of each biller",
    description=(
        "Each biller's category, region, customer parameters (labels in English and "
        "Hindi, the pattern a value must match), whether a pay needs a fetch first, "
        "its amount rule and channels, as the switch processes wrote them at start. "
        "`version` is the digest terminals compare; empty while processes with "
        "different configurations disagree."
    ),
)
async def catalogue(
    request: Request, who: Annotated[Principal, Depends(allow("billers.read"))]
) -> dict[str, Any]:
    return await catalogue_store.load(deps_of(request).db)


def biller_states(request: Request) -> list[dict[str, Any]]:
    """Each biller: its name, and its breaker's state and counts (None: no breaker)."""
    out = []
    for b in deps_of(request).billers.values():
        stats = b.gate.statistics() if b.gate is not None else None
        out.append(
            {
                "id": b.id,
                "name": b.name,
                "breaker_state": stats.breaker_state if stats else None,
                "breaker_opened": stats.breaker_opened if stats else 0,
                "busy_refusals": stats.busy_refusals if stats else 0,
                "breaker_refusals": stats.breaker_refusals if stats else 0,
            }
        )
    return out
