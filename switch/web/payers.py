"""``/office/payers/{id}``: a payer's desk in the back office: its account, its bills
by state, and what moves them on in bulk (a bill file taken in, a fetch round, a round
with its ERP, a pay run over allocated funds), each by the API's own code and role;
``/office/payers/{id}/runs/{run}``: a pay run's plan and outcomes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from switch.admin import bulk as api
from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.admin.roles import PERMISSIONS
from switch.bulk import store
from switch.bulk.service import report
from switch.web import session
from switch.web.forms import paise_from_rupees
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
RUNS_SHOWN = 20


async def _desk(request: Request, permission: str, payer_id: str) -> Principal:
    who = await staff(request, permission)
    await api.payer_for(request, who, payer_id)  # 404 for another payer's staff
    return who


def _back(payer_id: str, said: str) -> Response:
    return RedirectResponse(
        f"/office/payers/{payer_id}?{urlencode({'said': said[:400]})}", status_code=303
    )


@router.get("/payers/{payer_id}")
async def desk(request: Request, payer_id: str) -> Response:
    who = await _desk(request, "bulk.read", payer_id)
    db = deps_of(request).read_db
    payer = await db.fetchrow(
        """SELECT a.id, a.name, c.balance_paise FROM agents a
             JOIN accounts c ON c.id = a.wallet_account_id WHERE a.id = $1""",
        payer_id,
    )
    runs = await db.fetch(
        """SELECT r.id, r.state, r.funds_paise, r.started_by, r.started_at,
                  count(*) FILTER (WHERE i.outcome = 'paid') AS paid,
                  count(*) FILTER (WHERE i.outcome = 'failed') AS failed,
                  count(*) FILTER (WHERE i.outcome = 'deferred') AS deferred,
                  coalesce(sum(i.amount_paise) FILTER (WHERE i.outcome = 'paid'), 0)
                      AS paid_paise
             FROM bulk_runs r LEFT JOIN bulk_run_items i ON i.run_id = r.id
            WHERE r.payer_id = $1 GROUP BY r.id ORDER BY r.id DESC LIMIT $2""",
        payer_id,
        RUNS_SHOWN,
    )
    may = {p for p in ("bulk.intake", "bulk.erp", "bulk.pay") if who.role in PERMISSIONS[p]}
    return page(
        request,
        "office/payer.html",
        who,
        payer=payer,
        by_state=await store.mis(db, payer_id, "state", who.circle_id),
        runs=runs,
        can=may,
        said=request.query_params.get("said"),
    )


@router.post("/payers/{payer_id}/bills")
async def take_in(request: Request, payer_id: str) -> Response:
    who = await _desk(request, "bulk.intake", payer_id)
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    file = form.get("file")
    date_format = str(form.get("date_format") or "DD-MM-YYYY")
    if not isinstance(file, UploadFile) or not file.filename:
        return _back(payer_id, "choose a CSV or XLSX bill file")
    if date_format not in ("DD-MM-YYYY", "DD/MM/YYYY", "YYYY-MM-DD"):
        date_format = "DD-MM-YYYY"
    done = await api.intake_file(request, who, payer_id, file, date_format)
    if done["refused"]:
        rows = "; ".join(f"line {r['line']}, {r['column']}: {r['reason']}"
                         for r in done["rejections"][:5])  # fmt: skip
        return _back(payer_id, f"{done['refused']}: {rows}")
    return _back(payer_id, f"{done['taken_in']} bills taken in, {done['already_in']} already in")


@router.post("/payers/{payer_id}/fetches")
async def fetch(request: Request, payer_id: str) -> Response:
    who = await _desk(request, "bulk.intake", payer_id)
    session.check_csrf(request, str((await request.form()).get("csrf", "")))
    done = await api.bulk_of(request).fetch_bills(payer_id, who.username)
    return _back(payer_id, f"{done['fetched']} of {done['sites']} sites' bills fetched, "
                 f"{done['taken_in']} taken in")  # fmt: skip


@router.post("/payers/{payer_id}/erp")
async def erp(request: Request, payer_id: str) -> Response:
    await _desk(request, "bulk.erp", payer_id)
    session.check_csrf(request, str((await request.form()).get("csrf", "")))
    said = await api.bulk_of(request).erp_round(payer_id)
    shown = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in sorted(said.items()))
    return _back(payer_id, f"ERP: {shown or 'nothing waiting'}")


@router.post("/payers/{payer_id}/runs")
async def pay_run(request: Request, payer_id: str) -> Response:
    who = await _desk(request, "bulk.pay", payer_id)
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    try:
        funds = paise_from_rupees(str(form.get("funds", "")))
    except ValueError as exc:
        return _back(payer_id, f"funds: {exc}")
    if funds is None:
        return _back(payer_id, "funds: the amount allocated, in rupees")
    bulk = api.bulk_of(request)
    run_id = await bulk.start_run(payer_id, funds, who.username)
    bulk.kick(run_id)
    return RedirectResponse(f"/office/payers/{payer_id}/runs/{run_id}", status_code=303)


@router.get("/payers/{payer_id}/runs/{run_id}")
async def run_page(request: Request, payer_id: str, run_id: int) -> Response:
    who = await _desk(request, "bulk.read", payer_id)
    found: dict[str, Any] = await report(deps_of(request).read_db, run_id)
    if not found or found["payer_id"] != payer_id:
        raise ApiError("not_found", f"no pay run {run_id}")
    return page(request, "office/payer_run.html", who, run=found,
                running=found["state"] == "running")  # fmt: skip
