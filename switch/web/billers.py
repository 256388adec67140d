"""``/office/billers``: each biller and its circuit breaker, as this process sees it
(the same ``biller_states`` as ``GET /v1/billers``), and the catalogue terminals are
told (the same stored catalogue as ``GET /v1/catalogue``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from switch.admin.billers import biller_states
from switch.admin.common import deps_of
from switch.catalogue import store as catalogue_store
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)


@router.get("/billers")
async def billers(request: Request) -> Response:
    who = await staff(request, "billers.read")
    catalogue = await catalogue_store.load(deps_of(request).db)
    return page(
        request, "office/billers.html", who, billers=biller_states(request), catalogue=catalogue
    )
