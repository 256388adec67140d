"""/v1/reports: MIS over HTTP — an agent's statement, totals by group, the chart.

The same queries as ``switch report`` (switch/settlement/reports.py). Days are IST
calendar days; a range defaults to the 30 days up to today and covers at most a year.
An agent's login gets its own statement only; totals and the chart are for staff.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import trio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from switch.admin.auth import Principal
from switch.admin.common import deps_of, own_agent
from switch.admin.errors import ApiError
from switch.admin.roles import allow
from switch.db.rows import json_ready
from switch.history.archive import archived_months
from switch.settlement import reports
from switch.settlement.calendar import IST

router = APIRouter(prefix="/v1/reports", tags=["reports"])
Format = Literal["json", "csv"]
From = Annotated[dt.date | None, Query(alias="from", description="first IST day")]
To = Annotated[dt.date | None, Query(alias="to", description="last IST day, inclusive")]
# Drawing is CPU work in a thread: one chart at a time keeps it from crowding out pays.
_CHART_LIMITER = trio.CapacityLimiter(1)


def _range(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    first, last = reports.default_range(start, end, dt.datetime.now(IST).date())
    try:
        reports.check_range(first, last)
    except reports.ReportError as exc:
        assert exc.field is not None
        raise ApiError("invalid_request", str(exc), {exc.field: exc.why}) from None
    return first, last


def _csv(rows: list[dict[str, Any]], name: str, archived: list[str]) -> Response:
    """A CSV download; months of the range that were archived are named in a header
    (``X-Archived-Months``), so the rows stay plain CSV."""
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    if archived:
        headers["X-Archived-Months"] = ",".join(archived)
    return Response(reports.as_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/statement",
    summary="An agent's statement: payments with status, and a summary",
    responses={200: {"content": {"text/csv": {}}}},
)
async def statement(
    request: Request,
    who: Annotated[Principal, Depends(allow("reports.statement"))],
    agent_id: Annotated[str | None, Query(max_length=20, description="yours if an agent")] = None,
    start: From = None,
    end: To = None,
    format: Format = "json",
) -> Any:
    agent_id = own_agent(who, agent_id)
    if agent_id is None:
        raise ApiError("invalid_request", "which agent?", {"agent_id": "required"})
    first, last = _range(start, end)
    deps = deps_of(request)
    try:
        found = await reports.agent_statement(deps.read_db, agent_id, first, last, deps.cfg.billers)
    except reports.ReportError as exc:  # the only one left: no such agent
        raise ApiError("not_found", str(exc)) from None
    if format == "csv":
        return _csv(
            found["payments"], f"statement_{agent_id}_{first}_{last}", found["archived_months"]
        )
    return json_ready(found)


@router.get(
    "/totals",
    summary="Totals per biller, region, district, agent or day (or combinations)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def totals(
    request: Request,
    who: Annotated[Principal, Depends(allow("reports.totals"))],
    by: Annotated[
        str,
        Query(
            max_length=60,
            pattern=r"^[a-z]+(,[a-z]+)*$",
            description=f"comma-separated: {', '.join(reports.GROUP_COLUMNS)}",
        ),
    ] = "biller",
    start: From = None,
    end: To = None,
    format: Format = "json",
) -> Any:
    groups = by.split(",")
    unknown = [g for g in groups if g not in reports.GROUP_COLUMNS]
    if unknown or len(set(groups)) != len(groups):
        raise ApiError(
            "invalid_request",
            f"group by distinct ones of {', '.join(reports.GROUP_COLUMNS)}",
            {"by": f"not a group: {', '.join(unknown)}" if unknown else "repeated"},
        )
    first, last = _range(start, end)
    deps = deps_of(request)
    rows = await reports.totals(deps.read_db, groups, first, last, deps.cfg.billers)
    archived = await archived_months(deps.read_db, first, last)
    if format == "csv":
        return _csv(rows, f"totals_{'_'.join(groups)}_{first}_{last}", archived)
    return {
        "by": groups,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "rows": rows,
        "archived_months": archived,  # in the range, archived: not in the rows
    }


@router.get(
    "/chart.png",
    summary="PNG: daily volume and value per biller",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def chart(
    request: Request,
    who: Annotated[Principal, Depends(allow("reports.totals"))],
    start: From = None,
    end: To = None,
) -> Response:
    first, last = _range(start, end)
    rows = await reports.daily_by_biller(deps_of(request).read_db, first, last)

    def draw() -> bytes:
        from switch.settlement.chart import chart_png  # matplotlib: slow to import

        return chart_png(rows, first, last)

    png = await trio.to_thread.run_sync(draw, limiter=_CHART_LIMITER)
    return Response(png, media_type="image/png")
