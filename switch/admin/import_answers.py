"""What the imports' routes answer, for the admin API's spec (as answers.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from switch.admin.answers import Answer


class ImportRun(Answer):
    id: int
    entity: str
    file_name: str
    file_sha256: str
    state: str = Field(description="checking, writing, done or refused")
    dry_run: bool
    rows_read: int
    written: int
    present: int
    rejected: int
    position: int
    started_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None


class ImportFile(Answer):
    name: str
    sha256: str
    bytes: int


class ImportRows(Answer):
    read: int
    accepted: int
    already_present: int
    rejected: int
    not_yet_written: int


class ImportControl(Answer):
    declared_count: int | None
    declared_paise: int | None
    file_count: int
    file_paise: int
    written_count: int
    written_paise: int


class ImportRejection(Answer):
    line: int
    column: str
    reason: str


class ImportProtocol(Answer):
    run: int
    entity: str
    state: str
    refusal: str | None
    dry_run: bool
    file: ImportFile
    mapping: dict[str, Any]
    rows: ImportRows
    control: ImportControl
    position: int
    started_by: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rejections: list[ImportRejection] = Field(description="the first 1,000 (report.csv: all)")
    rejections_shown: int


class StartedImport(ImportProtocol):
    imported_before: bool = Field(description="the same file was imported: nothing is written")


class LegacyPayment(Answer):
    legacy_ref: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    paid_at: dt.datetime
    status: str = Field(description="posted or failed, as the old system recorded it")
    agent_legacy_ref: str | None
    biller_txn_id: str | None
    mobile: str | None
    run_id: int = Field(description="the import run that brought it in")
    imported: bool


class LegacyPayments(Answer):
    items: list[LegacyPayment]


def answers(page: Any) -> dict[tuple[str, str], tuple[int, type[Answer]]]:
    return {
        ("POST", "/v1/imports/{entity}"): (202, StartedImport),
        ("GET", "/v1/imports"): (200, page[ImportRun]),
        ("GET", "/v1/imports/{run_id}"): (200, ImportProtocol),
        ("GET", "/v1/legacy-payments"): (200, LegacyPayments),
    }
