"""One import run of one file: checked whole, then written in chunks.

1. **Once per file.** The file's SHA-256 names the run: the same bytes imported again
   find the finished run and write nothing ("already imported in run N"); a run that
   was killed is resumed, not started again.
2. **Checked before anything is written.** The first pass streams every row, checks
   the header, and counts the file's rows and sums its amounts. A file whose declared
   control totals differ from its rows is refused whole (for money they must be
   declared). Nothing is written. For money (``Entity.money``) the first pass also runs
   every row through the entity's own checks and records each rejected row (line,
   column, reason): the whole file is known good or bad before a rupee moves. Other
   files' rows stand alone, so their checks run once, in the second pass, and a
   rejected row is recorded in its chunk's transaction (a parse costs more than the
   write: checking 100,000 agents twice took half the run).
3. **Written in chunks, resumable.** The second pass streams the file again and writes
   its good rows ``chunk_rows`` at a time; each chunk's rows, its rejections at write
   time and the run's position move in one transaction. A run killed mid-file resumes
   after its last committed chunk: every row is written exactly once. (One transaction
   for a million rows would hold its locks and WAL for minutes and lose everything to
   a crash; a chunk is small enough to retry and large enough to be fast.)
4. **A dry run** goes through both passes, each chunk rolled back but its rejections
   kept: its report says exactly what a real run would write and refuse, and it writes
   nothing but the report.
5. Memory is bounded by a chunk, whatever the file's size: both passes stream.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import trio

from switch.db import Connection
from switch.db.audit import audit
from switch.db.database import Database
from switch.imports import fields, sources
from switch.imports.entities import ENTITIES, PRESENT, WRITTEN, Context, Entity
from switch.imports.fields import DATE_FORMATS, FieldError
from switch.imports.mapping import Mapping
from switch.ledger.types import MIGRATION_CODE

CHUNK_ROWS = 5_000
REJECTION_BATCH = 1_000


class ImportRefused(Exception):
    """The whole file is refused (its header, its control totals): nothing written."""


@dataclass(frozen=True)
class Options:
    actor: str
    dry_run: bool = False
    control_count: int | None = None
    control_paise: int | None = None
    approved: bool = False  # agents: the legacy system had approved them
    chunk_rows: int = CHUNK_ROWS
    chunk_pause_s: float = 0.0  # between chunks (drills that kill a run mid-file)
    default_ceiling_paise: int = 10_00_000_00
    file_name: str = ""  # as its sender named it (an upload is kept under another name)
    billers: frozenset[str] = frozenset()  # this switch's billers (consumers must name one)
    complaint_tat_s: float = 48 * 3600.0
    credentials_dir: Path | None = None  # terminals: their credentials files go here
    switch_public_key: bytes = b""
    terminal_address: str = ""


class _DryRun(Exception):
    """Raised inside a dry run's chunk to roll it back."""


async def run_import(
    db: Database, entity_name: str, path: Path, mapping: Mapping, opts: Options
) -> tuple[int, bool]:
    """Import ``path``: the run's id (its report: ``report.py``), and whether the file
    had been imported before (then nothing was written)."""
    run_id, before = await start(db, entity_name, path, mapping, opts)
    if not before:
        await proceed(db, run_id, path, mapping, opts)
    return run_id, before


async def start(
    db: Database, entity_name: str, path: Path, mapping: Mapping, opts: Options
) -> tuple[int, bool]:
    """The run for this file (rule 1): a new one, the one that was killed, or the
    finished one (then True: nothing is to be done)."""
    sha = await trio.to_thread.run_sync(sources.sha256_of, path)
    run = None if opts.dry_run else await _earlier_run(db, entity_name, sha)
    if run is not None:
        if run["source_path"] != str(path):  # a resumed run reads the file from here now
            await db.execute(
                "UPDATE import_runs SET source_path = $2 WHERE id = $1", run["id"], str(path)
            )
        return int(run["id"]), run["state"] == "done"
    run = await _new_run(db, entity_name, path, sha, mapping, opts)
    return int(run["id"]), False


async def proceed(db: Database, run_id: int, path: Path, mapping: Mapping, opts: Options) -> None:
    """Check (if not yet) and write the run to its end (rules 2-5), holding its lease
    (``RunElsewhere``: another live process holds it)."""
    await _take(db, run_id)
    run = await _run(db, run_id)
    entity = ENTITIES[run["entity"]]
    if run["state"] == "checking":
        try:
            await _check(db, entity, path, mapping, opts, run_id)
        except (ImportRefused, sources.SourceError) as exc:
            await _finish(db, run_id, "refused", str(exc), opts.actor)
            return
        run = await _run(db, run_id)
    if run["state"] != "writing":
        return
    ctx = await _context(db, run_id, opts)
    await _write(db, entity, path, mapping, opts, ctx, int(run["position"]))
    await _finish(db, run_id, "done", None, opts.actor)


class RunElsewhere(Exception):
    """Another process is running this import now."""


ME = f"{socket.gethostname()}:{os.getpid()}"
LEASE_S = 120.0  # renewed at every chunk: a run that stops renewing is free again


async def _take(db: Database, run_id: int) -> None:
    """The run's lease: free, expired, ours, or its holder on this host is dead."""
    row = await db.fetchrow(
        "SELECT lease_owner, lease_until > now() AS held FROM import_runs WHERE id = $1", run_id
    )
    assert row is not None
    owner = row["lease_owner"]
    if row["held"] and owner != ME and not _dead_here(owner):
        raise RunElsewhere(f"import run {run_id} is being run by {owner}")
    taken = await db.execute(
        """UPDATE import_runs SET lease_owner = $2,
                  lease_until = now() + make_interval(secs => $3::float8)
            WHERE id = $1 AND lease_owner IS NOT DISTINCT FROM $4""",
        run_id,
        ME,
        LEASE_S,
        owner,
    )
    if not taken.endswith("1"):
        raise RunElsewhere(f"import run {run_id} was taken by another process just now")


def _dead_here(owner: str | None) -> bool:
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def _earlier_run(db: Database, entity: str, sha: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT * FROM import_runs WHERE entity = $1 AND file_sha256 = $2
              AND NOT dry_run AND state <> 'refused'""",
        entity,
        sha,
    )


async def _run(db: Database, run_id: int) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM import_runs WHERE id = $1", run_id)
    assert row is not None
    return row


async def _new_run(
    db: Database, entity: str, path: Path, sha: str, mapping: Mapping, opts: Options
) -> asyncpg.Record:
    row = await db.fetchrow(
        """INSERT INTO import_runs (entity, file_name, file_sha256, file_bytes, mapping,
               dry_run, control_count, control_paise, started_by, source_path, approved)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11) RETURNING *""",
        entity,
        opts.file_name or path.name,
        sha,
        sources.size_of(path),
        json.dumps(mapping.as_dict()),
        opts.dry_run,
        opts.control_count,
        opts.control_paise,
        opts.actor,
        str(path),
        opts.approved,
    )
    assert row is not None
    return row


def _rows(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, str]]]:
    return sources.rows(path, mapping.encoding, DATE_FORMATS[mapping.date_format])


async def _check(
    db: Database, entity: Entity, path: Path, mapping: Mapping, opts: Options, run_id: int
) -> None:
    """The first pass (rule 2): counts, sums and, for money, pure rejections, recorded."""
    await db.execute("DELETE FROM import_rejections WHERE run_id = $1", run_id)  # a rerun
    header = await trio.to_thread.run_sync(sources.header_of, path, mapping.encoding)
    missing = [mapping.column(n) for n in entity.required if mapping.column(n) not in header]
    if missing:
        raise ImportRefused(f"the file has no column {', '.join(missing)}")
    if entity.money and (opts.control_count is None or opts.control_paise is None):
        raise ImportRefused("money files need their declared control totals (count and amount)")
    read = valid = file_paise = 0
    unreadable: list[int] = []  # lines whose amount cannot be read at all
    rejections: list[tuple[int, str, str]] = []
    for line, row in _rows(path, mapping):
        read += 1
        if entity.amount is not None:
            try:
                file_paise += _amount(row, mapping)
            except FieldError:
                unreadable.append(line)
        try:
            if entity.money:  # other files' rows are checked as they are written
                entity.parse(row, mapping)
            valid += 1
        except FieldError as exc:
            rejections.append((line, exc.column, exc.reason))
        if len(rejections) >= REJECTION_BATCH:
            await _reject(db, run_id, rejections)
            rejections = []
        if read % 50_000 == 0:  # a long first pass keeps its lease
            await db.execute(
                """UPDATE import_runs SET lease_until = now() + make_interval(secs => $2::float8)
                    WHERE id = $1""",
                run_id,
                LEASE_S,
            )
    await _reject(db, run_id, rejections)
    await db.execute(
        """UPDATE import_runs SET rows_read = $2::bigint, rows_valid = $3::bigint,
                  rejected = $2::bigint - $3::bigint, file_paise = $4, state = 'writing'
            WHERE id = $1""",
        run_id,
        read,
        valid,
        file_paise,
    )
    if entity.money and unreadable:
        raise ImportRefused(
            f"the amount of line {unreadable[0]} cannot be read ({len(unreadable)} such lines): "
            "the file's total cannot be checked"
        )
    if opts.control_count is not None and opts.control_count != read:
        raise ImportRefused(
            f"the file has {read} rows; its control count says {opts.control_count}"
        )
    if opts.control_paise is not None and opts.control_paise != file_paise:
        raise ImportRefused(
            f"the file's amounts sum to {file_paise} paise; its control total says "
            f"{opts.control_paise}"
        )


def _amount(row: dict[str, str], mapping: Mapping) -> int:
    """A row's amount for the file's sum: every row with a readable amount counts,
    whatever else is wrong with it (the sender's control total counts them all)."""
    column = mapping.column("amount")
    return fields.paise(column, row.get(column, ""), mapping.amounts, allow_zero=True)


async def _reject(db: Database, run_id: int, rows: list[tuple[int, str, str]]) -> None:
    if rows:
        await db.run(lambda conn: _insert_rejections(conn, run_id, rows))


async def _insert_rejections(
    conn: Connection, run_id: int, rows: list[tuple[int, str, str]]
) -> None:
    await conn.execute(
        """INSERT INTO import_rejections (run_id, line, column_name, reason)
           SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])
           ON CONFLICT DO NOTHING""",
        run_id,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2][:500] for r in rows],
    )


async def _context(db: Database, run_id: int, opts: Options) -> Context:
    migration = await db.fetchval("SELECT id FROM accounts WHERE code = $1", MIGRATION_CODE)
    return Context(
        run_id,
        opts.actor,
        opts.approved,
        migration,
        opts.default_ceiling_paise,
        opts.billers,
        opts.complaint_tat_s,
        opts.credentials_dir,
        opts.switch_public_key,
        opts.terminal_address,
    )


async def _write(
    db: Database,
    entity: Entity,
    path: Path,
    mapping: Mapping,
    opts: Options,
    ctx: Context,
    position: int,
) -> None:
    """The second pass (rule 3): the good rows, chunk by chunk, from ``position``,
    with the rows the first pass did not check and this one rejects. The next chunk
    is read and checked while the last one is written (the checks and the database
    each took about half of an agents import, one after the other); one chunk is
    written at a time, in the file's order, so positions commit in order."""
    writing: concurrent.futures.Future[None] | None = None  # the last chunk's commit
    try:
        for chunk, bad, done in _chunks(entity, _rows(path, mapping), mapping, opts, position):
            if writing is not None:
                await db.wait(writing)
                if opts.chunk_pause_s:
                    await trio.sleep(opts.chunk_pause_s)
            writing = db.start(_committer(entity, opts, ctx, chunk, bad, done))
        if writing is not None:
            await db.wait(writing)
    finally:
        if writing is not None and not writing.done():  # an error or a cancel here
            writing.cancel()


def _chunks(
    entity: Entity,
    rows: Iterator[tuple[int, dict[str, str]]],
    mapping: Mapping,
    opts: Options,
    position: int,
) -> Iterator[tuple[list[tuple[int, Any]], list[tuple[int, str, str]], int]]:
    """The file after ``position`` as chunks: the parsed rows, the rows rejected here
    (never for money: rule 2), and the position after the chunk's last row."""
    chunk: list[tuple[int, Any]] = []
    bad: list[tuple[int, str, str]] = []
    done = 0  # data rows seen in this pass
    for line, row in rows:
        done += 1
        if done <= position:
            continue
        try:
            chunk.append((line, entity.parse(row, mapping)))
        except FieldError as exc:
            if not entity.money:  # for money the first pass recorded it
                bad.append((line, exc.column, exc.reason))
        if len(chunk) + len(bad) >= opts.chunk_rows:
            yield chunk, bad, done
            chunk, bad = [], []
    yield chunk, bad, done


def _committer(
    entity: Entity,
    opts: Options,
    ctx: Context,
    chunk: list[tuple[int, Any]],
    bad: list[tuple[int, str, str]],
    position: int,
) -> Callable[[Connection], Awaitable[None]]:
    """One chunk, its rejections and the run's position, in one transaction (a dry
    run's rolled back, its counts and rejections kept)."""

    async def write(conn: Connection) -> None:
        counts: dict[str, int] = {}
        refused: list[tuple[int, str, str]] = []
        try:
            async with conn.transaction():
                counts, refused = await _chunk(conn, entity, ctx, chunk)
                refused += bad
                counts["rejected"] += len(bad)
                await _insert_rejections(conn, ctx.run_id, refused)
                if opts.dry_run:
                    raise _DryRun
                await _advance(conn, ctx.run_id, position, counts)
        except _DryRun:
            await _insert_rejections(conn, ctx.run_id, refused)
            await _advance(conn, ctx.run_id, position, counts)

    return write


async def _chunk(
    conn: Connection, entity: Entity, ctx: Context, chunk: list[tuple[int, Any]]
) -> tuple[dict[str, int], list[tuple[int, str, str]]]:
    """The entity's writer on the chunk: its counts, and the rows it refused."""
    outcomes = await entity.write(conn, chunk, ctx) if chunk else []
    written_paise = 0
    refused: list[tuple[int, str, str]] = []
    for (line, parsed), outcome in zip(chunk, outcomes, strict=True):
        if outcome == WRITTEN:
            written_paise += entity.amount(parsed) if entity.amount else 0
        elif outcome != PRESENT:
            column, _, reason = outcome.partition(": ")
            refused.append((line, column, reason))
    counts = {
        "written": outcomes.count(WRITTEN),
        "present": outcomes.count(PRESENT),
        "rejected": len(refused),
        "written_paise": written_paise,
    }
    return counts, refused


async def _advance(conn: Connection, run_id: int, position: int, c: dict[str, int]) -> None:
    await conn.execute(
        """UPDATE import_runs SET position = $2, written = written + $3,
                  present = present + $4, rejected = rejected + $5,
                  written_paise = written_paise + $6,
                  lease_until = now() + make_interval(secs => $7::float8)
            WHERE id = $1""",
        run_id,
        position,
        c.get("written", 0),
        c.get("present", 0),
        c.get("rejected", 0),
        c.get("written_paise", 0),
        LEASE_S,
    )


async def _finish(db: Database, run_id: int, state: str, refusal: str | None, actor: str) -> None:
    async def finish(conn: Connection) -> None:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE import_runs SET state = $2, refusal = $3, finished_at = now(),
                          lease_owner = NULL, lease_until = NULL
                    WHERE id = $1 RETURNING id, entity, file_name, file_sha256, dry_run,
                              rows_read, written, present, rejected, written_paise""",
                run_id,
                state,
                refusal,
            )
            assert row is not None
            shown = dict(row)
            await audit(conn, actor, f"import.{state}", "import_run", str(run_id), None, shown)

    await db.run(finish)
