"""``/office/reports``: MIS totals by biller, region, district, agent or day, the
daily chart and CSV, from the same report functions as the API and ``switch report``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import trio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.history.archive import archived_months
from switch.settlement import reports
from switch.web.forms import day_range, one_line
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
# Drawing is CPU work in a thread: one chart at a time keeps it from crowding out pays.
_CHART_LIMITER = trio.CapacityLimiter(1)


def _report_range(query: dict[str, str]) -> tuple[dt.date, dt.date, list[str], dict[str, str]]:
    first, last, errors = day_range(query)
    by = [g for g in query.get("by", "biller").split(",") if g]
    if not by or any(g not in reports.GROUP_COLUMNS for g in by) or len(set(by)) != len(by):
        errors["by"] = f"distinct ones of {', '.join(reports.GROUP_COLUMNS)}"
        by = ["biller"]
    return first, last, by, errors


@router.get("/reports")
async def mis(request: Request) -> Response:
    who = await staff(request, "reports.totals")
    query = dict(request.query_params)
    first, last, by, errors = _report_range(query)
    deps = deps_of(request)
    rows: list[dict[str, Any]] = []
    archived: list[str] = []
    if not errors:
        rows = await reports.totals(deps.read_db, by, first, last, deps.cfg.billers)
        archived = await archived_months(deps.read_db, first, last)
    return page(
        request,
        "office/reports.html",
        who,
        rows=rows,
        by=by,
        first=first,
        last=last,
        errors=errors,
        groups=reports.GROUP_COLUMNS,
        archived=archived,
        query=f"from={first}&to={last}&by={','.join(by)}",
    )


@router.get("/reports/totals.csv")
async def mis_csv(request: Request) -> Response:
    await staff(request, "reports.totals")
    first, last, by, errors = _report_range(dict(request.query_params))
    if errors:
        raise ApiError("invalid_request", one_line(errors))
    deps = deps_of(request)
    rows = await reports.totals(deps.read_db, by, first, last, deps.cfg.billers)
    name = f"totals_{'_'.join(by)}_{first}_{last}.csv"
    return Response(
        reports.as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/reports/chart.png")
async def mis_chart(request: Request) -> Response:
    await staff(request, "reports.totals")
    first, last, _, errors = _report_range(dict(request.query_params))
    if errors:
        raise ApiError("invalid_request", one_line(errors))
    rows = await reports.daily_by_biller(deps_of(request).read_db, first, last)

    def draw() -> bytes:
        from switch.settlement.chart import chart_png  # matplotlib: slow to import

        return chart_png(rows, first, last)

    png = await trio.to_thread.run_sync(draw, limiter=_CHART_LIMITER)
    return Response(png, media_type="image/png")
