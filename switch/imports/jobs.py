"""Imports started from the admin API or the back office run here, one at a time, in
the background (a million rows take about a minute; no request waits that long). An
uploaded file is kept in ``<documents dir>/imports/`` while its run lasts; a run that a
restart interrupted is taken up again at start, from its last committed chunk."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from switch.config import Config
from switch.db.database import Database
from switch.imports import engine, mapping

log = logging.getLogger("switch.imports")
QUEUE = 16  # runs waiting their turn; more are refused (busy) rather than queued


class ImportsBusy(Exception):
    pass


@dataclass(frozen=True)
class Job:
    run_id: int
    path: Path
    mapping: mapping.Mapping
    opts: engine.Options


class ImportJobs:
    def __init__(self, db: Database, uploads_dir: Path, defaults: engine.Options) -> None:
        self._db = db
        self.uploads_dir = uploads_dir
        self._defaults = defaults  # the switch's billers, ceiling and turnaround
        self._in, self._out = trio.open_memory_channel[Job](QUEUE)

    def upload_path(self, name: str) -> Path:
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        suffix = ".xlsx" if name.lower().endswith(".xlsx") else ".csv"
        return self.uploads_dir / f"{uuid.uuid4().hex}{suffix}"

    async def submit(
        self, entity: str, path: Path, m: mapping.Mapping, opts: engine.Options
    ) -> tuple[int, bool]:
        """The run for the file (an earlier one of the same bytes, if any), queued."""
        run_id, before = await engine.start(self._db, entity, path, m, opts)
        if before:
            await trio.Path(path).unlink(missing_ok=True)
            return run_id, True
        try:
            self._in.send_nowait(Job(run_id, path, m, opts))
        except trio.WouldBlock:
            raise ImportsBusy(f"{QUEUE} imports are waiting already; try again later") from None
        return run_id, False

    async def run(self) -> None:
        await self._resume_interrupted()
        async for job in self._out:
            await self._one(job)

    async def _one(self, job: Job) -> None:
        try:
            await engine.proceed(self._db, job.run_id, job.path, job.mapping, job.opts)
        except engine.RunElsewhere as exc:
            log.warning("%s", exc)
            return
        except Exception:  # one file's fault never stops the others
            log.exception("import run %d failed; it resumes at the next start", job.run_id)
            return
        await trio.Path(job.path).unlink(missing_ok=True)

    async def _resume_interrupted(self) -> None:
        rows = await self._db.fetch(
            """SELECT * FROM import_runs WHERE state IN ('checking', 'writing')
                 AND source_path IS NOT NULL ORDER BY id"""
        )
        for r in rows:
            path = Path(r["source_path"])
            if not path.is_relative_to(self.uploads_dir) or not await trio.Path(path).exists():
                continue  # a file run by the CLI: its command resumes it
            m = mapping.Mapping(**_mapping_fields(r["mapping"]))
            opts = dataclasses.replace(
                self._defaults,
                actor=r["started_by"],
                dry_run=r["dry_run"],
                control_count=r["control_count"],
                control_paise=r["control_paise"],
                approved=r["approved"],
                file_name=r["file_name"],
            )
            log.info("resuming import run %d (%s) at row %d", r["id"], r["entity"], r["position"])
            await self._one(Job(r["id"], path, m, opts))


def engine_options(cfg: Config) -> engine.Options:
    """What every run of this switch takes from its configuration."""
    return engine.Options(
        "system",
        default_ceiling_paise=cfg.admin.default_max_balance_paise,
        billers=frozenset(b.id for b in cfg.billers),
        complaint_tat_s=cfg.admin.complaint_tat_service_h * 3600,
    )


def _mapping_fields(raw: Any) -> dict[str, Any]:
    import json

    value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return {k: value[k] for k in ("entity", "encoding", "date_format", "amounts", "columns")}
