"""/v1/imports: bulk imports and legacy migration through the API (docs/imports.md).

- ``POST /v1/imports/{entity}`` (multipart: ``file``, optional ``mapping`` TOML,
  ``control_count``, ``control_total_paise``, ``dry_run``, ``approved``): the file is
  kept, its run made (or found: the same bytes imported before) and queued; 202 with
  the run's id. Runs go one at a time in the background.
- ``GET /v1/imports``, ``GET /v1/imports/{run}``: runs and a run's protocol of
  transfer; ``GET /v1/imports/{run}/report.csv``: the same with every rejected row.

- ``GET /v1/legacy-payments?account=|legacy_ref=``: the imported payment history
  (staff: ``legacy.read``), each marked ``imported``.

Who may: agents ``imports.agents`` (onboarding), balances and top-ups
``imports.money`` (finance), history, consumer accounts and open complaints
``imports.history`` (operations); admin all.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import trio
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile as StarletteUpload

from switch.admin.auth import Principal
from switch.admin.common import After, Limit, RowId, deps_of, page
from switch.admin.errors import ApiError
from switch.admin.roles import PERMISSIONS, allow, current
from switch.db.rows import json_ready
from switch.imports import engine, mapping, report
from switch.imports.entities import ENTITIES
from switch.imports.jobs import ImportJobs, ImportsBusy

router = APIRouter(prefix="/v1", tags=["imports"])
Entity = Literal["agents", "balances", "topups", "history", "consumers", "complaints"]
PERMISSION = {
    "agents": "imports.agents",
    "balances": "imports.money",
    "topups": "imports.money",
    "history": "imports.history",
    "consumers": "imports.history",
    "complaints": "imports.history",
}
COPY_BYTES = 1 << 20


def jobs_of(request: Request) -> ImportJobs:
    jobs = deps_of(request).imports
    if jobs is None:
        raise ApiError("invalid_state", "imports are not run by this process")
    return jobs


def may_import(who: Principal, entity: str) -> None:
    permission = PERMISSION[entity]
    if who.role not in PERMISSIONS[permission]:
        raise ApiError("forbidden", f"role {who.role} may not {permission}")


async def keep_upload(request: Request, upload: StarletteUpload) -> Path:
    """The upload, copied to the imports folder a block at a time (never whole in
    memory), refused past ``[admin] max_import_bytes``."""
    jobs = jobs_of(request)
    limit = deps_of(request).cfg.admin.max_import_bytes
    path = jobs.upload_path(upload.filename or "upload.csv")
    await save_upload(upload, path, limit, "an import file")
    return path


async def save_upload(upload: StarletteUpload, path: Path, limit: int, what: str) -> None:
    """Copy ``upload`` to ``path`` a block at a time; past ``limit`` bytes the copy is
    removed and the upload refused (413)."""
    size = 0
    with path.open("wb") as out:
        while block := await upload.read(COPY_BYTES):
            size += len(block)
            if size > limit:
                out.close()
                await trio.Path(path).unlink(missing_ok=True)
                raise ApiError("too_large", f"{what} is at most {limit} bytes")
            await trio.to_thread.run_sync(out.write, block)


def read_mapping(entity: str, text: bytes | None) -> mapping.Mapping:
    if not text:
        return mapping.default(entity)
    with tempfile.NamedTemporaryFile("wb", suffix=".toml") as f:
        f.write(text)
        f.flush()
        try:
            return mapping.load(Path(f.name), entity, ENTITIES[entity].fields)
        except mapping.MappingError as exc:
            raise ApiError(
                "invalid_request",
                str(exc).replace(f.name, "mapping"),
                {"mapping": str(exc).replace(f.name, "mapping")},
            ) from exc


async def submit(
    request: Request,
    who: Principal,
    entity: str,
    upload: StarletteUpload,
    mapping_text: bytes | None,
    *,
    dry_run: bool,
    approved: bool,
    control_count: int | None,
    control_paise: int | None,
) -> dict[str, Any]:
    """What the API's route and the back office's form both do."""
    may_import(who, entity)
    m = read_mapping(entity, mapping_text)
    path = await keep_upload(request, upload)
    opts = engine.Options(
        who.username,
        dry_run=dry_run,
        control_count=control_count,
        control_paise=control_paise,
        approved=approved and entity == "agents",
        default_ceiling_paise=deps_of(request).cfg.admin.default_max_balance_paise,
        file_name=(upload.filename or path.name)[:200],
        billers=frozenset(b.id for b in deps_of(request).cfg.billers),
        complaint_tat_s=deps_of(request).cfg.admin.complaint_tat_service_h * 3600,
    )
    try:
        run_id, before = await jobs_of(request).submit(entity, path, m, opts)
    except ImportsBusy as exc:
        await trio.Path(path).unlink(missing_ok=True)
        raise ApiError("invalid_state", str(exc)) from exc
    found = await report.protocol(deps_of(request).db, run_id)
    assert found is not None
    return found | {"imported_before": before}


@router.post(
    "/imports/{entity}",
    status_code=202,
    summary="Import a CSV or XLSX file (queued; its protocol at GET /v1/imports/{run})",
)
async def start_import(
    entity: Entity,
    request: Request,
    who: Annotated[Principal, Depends(current)],
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or Windows-1252) or XLSX")],
    mapping_file: Annotated[UploadFile | None, File(alias="mapping")] = None,
    dry_run: Annotated[bool, Form()] = False,
    approved: Annotated[bool, Form(description="agents: the legacy system approved them")] = False,
    control_count: Annotated[int | None, Form(ge=0, le=10**9)] = None,
    control_total_paise: Annotated[int | None, Form(ge=0, le=10**15)] = None,
) -> dict[str, Any]:
    text = await mapping_file.read(64 * 1024) if mapping_file is not None else None
    return await submit(
        request,
        who,
        entity,
        file,
        text,
        dry_run=dry_run,
        approved=approved,
        control_count=control_count,
        control_paise=control_total_paise,
    )


@router.get("/imports", summary="Import runs, newest first")
async def list_imports(
    request: Request,
    who: Annotated[Principal, Depends(allow("imports.read"))],
    limit: Limit = 50,
    after: After = None,
) -> dict[str, Any]:
    rows = await deps_of(request).read_db.fetch(
        """SELECT id, entity, file_name, file_sha256, state, dry_run, rows_read, written,
                  present, rejected, position, started_by, started_at, finished_at
             FROM import_runs WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC
            LIMIT $2""",
        after,
        limit + 1,
    )
    return page([json_ready(r) for r in rows], limit)


@router.get("/imports/{run_id}", summary="An import run's protocol of transfer")
async def get_import(
    run_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("imports.read"))],
) -> dict[str, Any]:
    found = await report.protocol(deps_of(request).db, run_id)
    if found is None:
        raise ApiError("not_found", f"no import run {run_id}")
    return found


@router.get(
    "/imports/{run_id}/report.csv",
    summary="The protocol as CSV: the figures, then every rejected row",
    responses={200: {"content": {"text/csv": {}}, "description": "the protocol"}},
)
async def import_csv(
    run_id: RowId,
    request: Request,
    who: Annotated[Principal, Depends(allow("imports.read"))],
) -> StreamingResponse:
    db = deps_of(request).db
    if await report.protocol(db, run_id) is None:
        raise ApiError("not_found", f"no import run {run_id}")
    return StreamingResponse(
        report.protocol_csv(db, run_id),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{run_id}.csv"'},
    )


@router.get(
    "/legacy-payments",
    summary="Payments imported from the system before this one (read-only history)",
)
async def legacy_payments(
    request: Request,
    who: Annotated[Principal, Depends(allow("legacy.read"))],
    account: Annotated[str | None, Query(max_length=32)] = None,
    biller: Annotated[str | None, Query(max_length=20)] = None,
    legacy_ref: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    if not (account or legacy_ref):
        raise ApiError(
            "invalid_request",
            "give account or legacy_ref",
            {"account": "account or legacy_ref is required"},
        )
    rows = await deps_of(request).read_db.fetch(
        """SELECT legacy_ref, biller_id, consumer_account, amount_paise, paid_at, status,
                  agent_legacy_ref, biller_txn_id, mobile, run_id
             FROM legacy_pays
            WHERE ($1::text IS NULL OR consumer_account = $1)
              AND ($2::text IS NULL OR biller_id = upper($2))
              AND ($3::text IS NULL OR legacy_ref = $3)
            ORDER BY paid_at DESC LIMIT $4""",
        account,
        biller,
        legacy_ref,
        limit,
    )
    return {"items": [json_ready(r) | {"imported": True} for r in rows]}
