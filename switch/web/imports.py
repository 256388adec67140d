"""``/office/imports``: bulk imports from the back office: a file uploaded with its
kind, mapping and control totals, then its run's protocol of transfer (refreshing
while it runs). Each form calls the API's own ``submit``: the same permissions by kind
of file, the same checks and the same background runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from switch.admin import imports as api
from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.imports import report
from switch.web import session
from switch.web.forms import paise_from_rupees
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
PAGE_ROWS = 50
KINDS = {
    "agents": "agents with their KYC",
    "balances": "opening balances",
    "topups": "top-ups from a bank statement",
    "history": "payment history",
    "consumers": "consumer accounts with their mobiles",
    "complaints": "open complaints",
}


async def _runs(request: Request) -> list[Any]:
    return await deps_of(request).read_db.fetch(
        """SELECT id, entity, file_name, state, dry_run, rows_read, written, present,
                  rejected, started_by, started_at FROM import_runs ORDER BY id DESC LIMIT $1""",
        PAGE_ROWS,
    )


@router.get("/imports")
async def imports_page(request: Request) -> Response:
    who = await staff(request, "imports.read")
    return page(
        request,
        "office/imports.html",
        who,
        runs=await _runs(request),
        kinds=KINDS,
        errors={},
        form={},
    )


@router.post("/imports")
async def upload(request: Request) -> Response:
    who = await staff(request, "imports.read")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    entity = str(form.get("entity", ""))
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    errors: dict[str, str] = {}
    file, mapping_file = form.get("file"), form.get("mapping")
    if entity not in KINDS:
        errors["entity"] = "choose what the file holds"
    if not isinstance(file, UploadFile) or not file.filename:
        errors["file"] = "choose a CSV or XLSX file"
    count = fields.get("control_count", "").strip()
    if count and not count.isdigit():
        errors["control_count"] = "a whole number of rows"
    try:
        total = paise_from_rupees(fields.get("control_total", ""))
    except ValueError as exc:
        errors["control_total"] = str(exc)
        total = None
    if errors or not isinstance(file, UploadFile):
        return await _again(request, who, errors, fields)
    text = None
    if isinstance(mapping_file, UploadFile) and mapping_file.filename:
        text = await mapping_file.read(64 * 1024)
    try:
        started = await api.submit(
            request,
            who,
            entity,
            file,
            text,
            dry_run=fields.get("dry_run") == "on",
            approved=fields.get("approved") == "on",
            control_count=int(count) if count else None,
            control_paise=total,
        )
    except ApiError as exc:
        if exc.code == "forbidden":
            raise
        return await _again(request, who, exc.fields or {"": exc.message}, fields)
    return RedirectResponse(f"/office/imports/{started['run']}", status_code=303)


async def _again(
    request: Request, who: Any, errors: dict[str, str], form: dict[str, str]
) -> Response:
    response = page(
        request,
        "office/imports.html",
        who,
        runs=await _runs(request),
        kinds=KINDS,
        errors=errors,
        form=form,
    )
    response.status_code = 422
    return response


@router.get("/imports/{run_id}")
async def run_page(request: Request, run_id: int) -> Response:
    who = await staff(request, "imports.read")
    found = await report.protocol(deps_of(request).db, run_id)
    if found is None:
        raise ApiError("not_found", f"no import run {run_id}")
    running = found["state"] in ("checking", "writing")
    return page(request, "office/import.html", who, p=found, running=running, kinds=KINDS)
