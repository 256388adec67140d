"""Institutional bill payment in the back office (docs/bulk-payments.md).

- ``POST /v1/payers``, ``GET /v1/payers``; ``POST /v1/payers/{id}/circles``,
  ``.../sites``, ``.../users`` (its Site In-charge, DGM (F) and Circle Nodal logins).
- ``POST /v1/payers/{id}/bills``: a discom's bill file (CSV or XLSX), taken in whole
  or refused with every bad row; each bill checked and queued.
- ``GET /v1/payers/{id}/bills[?state=]``, ``GET /v1/payers/{id}/bills/{bill}`` (its
  checks, docket and milestones).
- ``POST /v1/payers/{id}/bills/decisions``: approve (bulk), send back, not to pay,
  resubmit, cancel: each bill's step from its stored state, by the caller's role.
- ``POST /v1/payers/{id}/erp``: a round with the payer's ERP (liabilities, IF, LF).
- ``POST /v1/payers/{id}/runs``: a pay run over allocated funds; ``GET .../runs/{run}``.

A payer's own staff see and decide only their payer's bills (another payer's are 404).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import trio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import Field
from starlette.datastructures import UploadFile as StarletteUpload

from switch.admin.auth import Principal
from switch.admin.common import RowId, deps_of
from switch.admin.errors import ApiError
from switch.admin.imports import save_upload
from switch.admin.models import Mobile, Password, Strict, Username
from switch.admin.roles import PAYER_ROLES, allow
from switch.admin.users import create_user
from switch.bulk import intake, payers, store, workflow
from switch.bulk.service import BulkService, report

router = APIRouter(prefix="/v1", tags=["institutional bill payment"])
PayerId = Annotated[str, Field(pattern=r"^PY[0-9]{6}$")]
DateFormat = Literal["DD-MM-YYYY", "DD/MM/YYYY", "YYYY-MM-DD"]


class PayerIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    mobile: Mobile


class CircleIn(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]


class SiteBody(Strict):
    circle_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")]
    site_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_-]{1,40}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    biller_id: Annotated[str, Field(min_length=1, max_length=40)]
    consumer_account: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_-]{1,32}$")]
    meter_no: Annotated[str, Field(min_length=1, max_length=40)]
    cost_centre: Annotated[str, Field(min_length=1, max_length=40)]
    vendor_code: Annotated[str, Field(min_length=1, max_length=40)]
    category: Annotated[str, Field(min_length=1, max_length=40, description="tariff category")]
    pay_category: Literal["gold", "silver", "bronze", "z"]
    sanctioned_load_kw: Annotated[Decimal, Field(ge=0, le=100_000)] = Decimal(0)
    contract_demand_kva: Annotated[Decimal, Field(ge=0, le=100_000)] = Decimal(0)


class PayerUserIn(Strict):
    username: Username
    role: Literal["site_incharge", "dgm_f", "circle_nodal"]
    mobile: Mobile
    password: Password
    circle_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")] | None = Field(
        None, description="their circle's bills only (default: every circle's)"
    )


class DecisionIn(Strict):
    action: Literal["approve", "send_back", "not_to_pay", "resubmit", "cancel"]
    bill_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=5000)]
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    back_to: Literal["dgm_f", "site_incharge"] | None = None
    approved_paise: Annotated[int, Field(ge=0, le=10**12)] | None = None


class RunIn(Strict):
    funds_paise: Annotated[int, Field(ge=0, le=10**13)]


def bulk_of(request: Request) -> BulkService:
    bulk = deps_of(request).bulk
    if bulk is None:
        raise ApiError("invalid_state", "institutional bill payment is off ([bulk] enabled)")
    return bulk


async def payer_for(request: Request, who: Principal, payer_id: str) -> dict[str, Any]:
    """The payer, if the caller may see it (its own staff see only their own)."""
    row = await payers.payer(deps_of(request).db, payer_id)
    if row is None or (who.role in PAYER_ROLES and who.agent_id != payer_id):
        raise ApiError("not_found", f"no payer {payer_id}")
    return dict(row)


def _refused(exc: payers.PayerError) -> ApiError:
    code = {"conflict": "duplicate"}.get(exc.code, "invalid_request")
    return ApiError(code, exc.message, {exc.field: exc.message} if exc.field else None)


@router.post("/payers", status_code=201, summary="A payer organisation, its prefunded account")
async def add_payer(
    body: PayerIn, request: Request, who: Annotated[Principal, Depends(allow("payers.manage"))]
) -> dict[str, Any]:
    d = deps_of(request)
    added = await payers.add_payer(d.db, d.ledger, body.name, body.mobile, who.username)
    await d.policy.refresh()  # its limits, here at once (elsewhere within seconds)
    return added


@router.get("/payers", summary="Payer organisations")
async def list_payers(
    request: Request, who: Annotated[Principal, Depends(allow("bulk.read"))]
) -> dict[str, Any]:
    rows = await deps_of(request).db.fetch(
        "SELECT id, name, mobile, state FROM agents WHERE kind = 'payer'"
        " AND ($1::text IS NULL OR id = $1) ORDER BY id",
        who.agent_id if who.role in PAYER_ROLES else None,
    )
    return {"payers": [dict(r) for r in rows]}


@router.post("/payers/{payer_id}/circles", status_code=201, summary="A circle of the payer")
async def add_circle(
    payer_id: PayerId,
    body: CircleIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("payers.manage"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    try:
        return await payers.add_circle(deps_of(request).db, payer_id, body.id, body.name,
                                       who.username)  # fmt: skip
    except payers.PayerError as exc:
        raise _refused(exc) from exc


@router.post("/payers/{payer_id}/sites", status_code=201, summary="A site: a consumer account")
async def add_site(
    payer_id: PayerId,
    body: SiteBody,
    request: Request,
    who: Annotated[Principal, Depends(allow("payers.manage"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    d = deps_of(request)
    billers = frozenset(b.id for b in d.cfg.billers)
    try:
        return await payers.add_site(
            d.db, payer_id, payers.SiteIn(**body.model_dump()), billers, who.username
        )
    except payers.PayerError as exc:
        raise _refused(exc) from exc


@router.post("/payers/{payer_id}/users", status_code=201, summary="A login of the payer's staff")
async def add_payer_user(
    payer_id: PayerId,
    body: PayerUserIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("payers.manage"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    d = deps_of(request)
    return await create_user(d.db, d.auth, who.username, body.username, body.role, body.mobile,
                             body.password, payer_id, body.circle_id)  # fmt: skip


@router.post("/payers/{payer_id}/bills", status_code=201, summary="Take in a discom's bill file")
async def take_in_bills(
    payer_id: PayerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.intake"))],
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or XLSX, a bill per row")],
    date_format: Annotated[
        Literal["DD-MM-YYYY", "DD/MM/YYYY", "YYYY-MM-DD"], Form()
    ] = "DD-MM-YYYY",
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    return await intake_file(request, who, payer_id, file, date_format)


async def intake_file(
    request: Request, who: Principal, payer_id: str, file: StarletteUpload, date_format: str
) -> dict[str, Any]:
    """What the API's route and the back office's form both do with a bill file."""
    d, bulk = deps_of(request), bulk_of(request)
    path = await _keep(d.documents_dir / "bills", file, d.cfg.bulk.max_bill_file_bytes)
    try:
        sites = await store.site_codes(d.db, payer_id)
        try:
            bills = await trio.to_thread.run_sync(intake.read_file, path, sites, date_format)
        except intake.FileRefused as exc:
            rejected = [{"line": r.line, "column": r.column, "reason": r.reason}
                        for r in exc.rejections[:1000]]  # fmt: skip
            nothing = store.Intake().shown()
            return nothing | {"refused": str(exc), "rejections": rejected}
        source = f"file:{(file.filename or path.name)[:100]}"
        result = await store.take_in(d.db, payer_id, [b for _, b in bills], source,
                                     bulk.tariffs, who.username)  # fmt: skip
        return result.shown() | {"refused": None, "rejections": []}
    finally:
        await trio.Path(path).unlink(missing_ok=True)


async def _keep(folder: Path, upload: StarletteUpload, limit: int) -> Path:
    await trio.Path(folder).mkdir(parents=True, exist_ok=True)
    suffix = ".xlsx" if (upload.filename or "").lower().endswith(".xlsx") else ".csv"
    path = folder / f"{trio.current_time():.6f}-{id(upload)}{suffix}"
    await save_upload(upload, path, limit, "a bill file")
    return path


@router.get("/payers/{payer_id}/bills", summary="The payer's bills, by state")
async def list_bills(
    payer_id: PayerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.read"))],
    state: str | None = None,
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    rows = await store.bills(deps_of(request).db, payer_id, state, circle=who.circle_id)
    return {"bills": rows}


@router.get("/payers/{payer_id}/bills/{bill_id}", summary="A bill: checks, docket, milestones")
async def get_bill(
    payer_id: PayerId,
    bill_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.read"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    db = deps_of(request).db
    found = await store.bills(db, payer_id, bill_id=bill_id, circle=who.circle_id)
    if not found:
        raise ApiError("not_found", f"no bill {bill_id} of {payer_id}")
    docket = await db.fetchrow("SELECT * FROM bill_dockets WHERE bill_id = $1", bill_id)
    return found[0] | {
        "docket": None if docket is None else store.shown_docket(docket),
        "milestones": await store.milestones(db, bill_id),
    }


@router.post("/payers/{payer_id}/bills/decisions", summary="Approve, send back, not to pay ...")
async def decide(
    payer_id: PayerId,
    body: DecisionIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.decide"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    d = store.Decision(body.action, who.role, who.username, body.reason, body.back_to,
                       body.approved_paise, circle_id=who.circle_id)  # fmt: skip
    said = await store.decide(deps_of(request).db, payer_id, body.bill_ids, d)
    done = sum(1 for v in said.values() if v == "ok")
    return {"done": done, "refused": len(said) - done,
            "results": [{"bill_id": k, "result": v} for k, v in said.items()]}  # fmt: skip


@router.post("/payers/{payer_id}/fetches", summary="Fetch every site's bill from its discom")
async def fetch_bills(
    payer_id: PayerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.intake"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    return await bulk_of(request).fetch_bills(payer_id, who.username)


@router.get("/payers/{payer_id}/mis", summary="The payer's bills by circle, site, month ...")
async def payer_mis(
    payer_id: PayerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.read"))],
    by: Literal["circle", "site", "category", "month", "letter", "state"] = "circle",
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    rows = await store.mis(deps_of(request).db, payer_id, by, who.circle_id)
    return {"by": by, "rows": rows}


@router.post("/payers/{payer_id}/erp", summary="A round with the payer's ERP: liabilities")
async def erp_round(
    payer_id: PayerId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.erp"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    return {"outcomes": await bulk_of(request).erp_round(payer_id)}


@router.post("/payers/{payer_id}/runs", status_code=202, summary="A pay run over allocated funds")
async def start_run(
    payer_id: PayerId,
    body: RunIn,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.pay"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    bulk = bulk_of(request)
    run_id = await bulk.start_run(payer_id, body.funds_paise, who.username)
    bulk.kick(run_id)
    return await report(deps_of(request).db, run_id)


@router.get("/payers/{payer_id}/runs/{run_id}", summary="A pay run: its plan and outcomes")
async def get_run(
    payer_id: PayerId,
    run_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("bulk.read"))],
) -> dict[str, Any]:
    await payer_for(request, who, payer_id)
    found = await report(deps_of(request).db, run_id)
    if not found or found["payer_id"] != payer_id:
        raise ApiError("not_found", f"no run {run_id} of {payer_id}")
    return found


assert set(workflow.AMENDS) <= set(PAYER_ROLES)
