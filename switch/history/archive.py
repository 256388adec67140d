"""``switch db archive --before YYYY-MM``: old months out of the database, into files.

Every partition of pays, transfers and SMS messages made before the month named is
written to ``<dir>/<partition>.csv.gz`` (PostgreSQL's COPY CSV with a header, then
gzip) beside a ``.sha256`` file that ``sha256sum -c`` reads, recorded in
``history_archives``, and then detached and dropped: the hot tables keep only the
months in use. The legacy partitions (rows from before partitioning) go together,
once every row in all three is old enough.

A month leaves only when nothing about it is still moving, so nothing is lost and no
report is quietly wrong; any one of these refuses the whole run, naming the count:
    * a pay in it is not final, or a posted one is not in a settlement window;
    * a transfer in it is pending, or an SMS is waiting to be delivered;
    * an open complaint or reconciliation case names one of its pays.
The current month and later are never archived.

Money stays exact: what the archived transfers moved, per account, is added to
``ledger_archived``, and the ledger check adds it to each account's journal. A key
stays used for ever (``pay_refs``, ``transfer_keys``): a terminal's retry of an
archived pay, or a late replay of a ledger key, is refused, never paid again.

The run is one transaction. It takes no lock while it writes: the rows of a month
that passed the checks cannot change (a final pay and a resolved transfer are
immutable, by trigger; only pending SMS are ever updated), and a lock on an old
partition would stall the switch, whose batched updates lock every partition. The
files are written and read back (their checksums compared) before anything is
dropped. Detaching needs a short exclusive lock on each parent table, asked for with
a ``lock_timeout`` so that the switch's traffic never queues behind it for long; the
checks run once more under it. If anything fails the database is as it was and the
files written are removed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from switch.db import Connection
from switch.db.database import Database
from switch.history.months import month_base, month_name, next_month, this_month
from switch.history.partitions import Partition, list_partitions

LOCK_TIMEOUT_S = 2.0
READ_CHUNK_BYTES = 1 << 20


class ArchiveRefused(Exception):
    """The months asked for cannot leave yet; ``reasons`` says why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Chosen:
    """One partition to archive: its months and the ids it holds, [id_from, id_to)."""

    partition: Partition
    first_month: dt.date
    last_month: dt.date
    id_from: int
    id_to: int


@dataclass(frozen=True)
class Written:
    chosen: Chosen
    path: Path
    rows: int
    sha256: str


@dataclass
class ArchiveRun:
    before: dt.date
    chosen: list[Chosen]
    written: list[Written] = field(default_factory=list)


async def plan(conn: Connection, before: dt.date, now: dt.datetime | None = None) -> list[Chosen]:
    """The partitions ``archive`` would take for ``before`` (a month's first day)."""
    current = this_month(now)
    if before > current:
        raise ArchiveRefused(
            [f"{month_name(current)} is the current month: it and later cannot be archived"]
        )
    parts = await list_partitions(conn)
    chosen = [
        Chosen(p, p.month, p.month, month_base(p.month), month_base(next_month(p.month)))
        for p in parts
        if p.month is not None and p.month < before
    ]
    return chosen + await _legacy(conn, [p for p in parts if p.month is None], before)


async def _legacy(conn: Connection, legacy: list[Partition], before: dt.date) -> list[Chosen]:
    """The legacy partitions, all or none: each holds every id below its month's."""
    out = []
    for p in legacy:
        row = await conn.fetchrow(
            f"""SELECT min(created_at AT TIME ZONE 'Asia/Kolkata')::date AS first,
                       max(created_at AT TIME ZONE 'Asia/Kolkata')::date AS last
                  FROM {_ident(p.name)}"""
        )
        bound = await conn.fetchval(
            """SELECT substring(pg_get_expr(relpartbound, oid) FROM 'TO \\(''?(\\d+)''?\\)')
                 FROM pg_class WHERE relname = $1""",
            p.name,
        )
        if row is None or row["last"] is None:
            first = last = before - dt.timedelta(days=1)  # empty: it goes with the others
        else:
            first, last = row["first"], row["last"]
        if last.replace(day=1) >= before:
            return []
        out.append(Chosen(p, first.replace(day=1), last.replace(day=1), 0, int(bound)))
    return out


async def refusals(conn: Connection, chosen: list[Chosen]) -> list[str]:
    """Why the chosen partitions cannot leave yet (empty: they can)."""
    reasons = []
    for c in chosen:
        name, table = _ident(c.partition.name), c.partition.table
        checks = {
            "pays": [
                (f"SELECT count(*) FROM {name} WHERE is_open", "pays not final"),
                (
                    f"""SELECT count(*) FROM {name} p WHERE p.state = 'posted'
                         AND NOT EXISTS (SELECT 1 FROM settlement_items s WHERE s.pay_id = p.id)""",
                    "posted pays not yet settled",
                ),
            ],
            "transfers": [(f"SELECT count(*) FROM {name} WHERE state = 1", "pending transfers")],
            "sms_outbox": [
                (f"SELECT count(*) FROM {name} WHERE state = 'pending'", "SMS not yet delivered")
            ],
        }[table]
        for sql, what in checks:
            count = await conn.fetchval(sql)
            if count:
                reasons.append(f"{c.partition.name}: {count} {what}")
        if table == "pays":
            reasons += await _named_by_open_cases(conn, c)
    return reasons


async def _named_by_open_cases(conn: Connection, c: Chosen) -> list[str]:
    out = []
    complaints = await conn.fetchval(
        """SELECT count(*) FROM complaints WHERE pay_id >= $1 AND pay_id < $2
              AND state IN ('logged', 'assigned', 'escalated')""",
        c.id_from,
        c.id_to,
    )
    if complaints:
        out.append(f"{c.partition.name}: {complaints} open complaints name its pays")
    cases = await conn.fetchval(
        "SELECT count(*) FROM recon_cases WHERE pay_id >= $1 AND pay_id < $2 AND state = 'open'",
        c.id_from,
        c.id_to,
    )
    if cases:
        out.append(f"{c.partition.name}: {cases} open reconciliation cases name its pays")
    return out


async def archive(
    conn: Connection,
    before: dt.date,
    out_dir: Path,
    *,
    now: dt.datetime | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> ArchiveRun:
    """Archive every partition made before ``before``; see the module's rules."""
    _make_dir(out_dir)
    run = ArchiveRun(before, [])
    try:
        async with conn.transaction():
            run.chosen = await plan(conn, before, now)
            if not run.chosen:
                return run
            reasons = await refusals(conn, run.chosen)
            if reasons:
                raise ArchiveRefused(reasons)
            for c in run.chosen:
                run.written.append(await _write(conn, c, out_dir))
            await _record(conn, run.written)
            await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
            for c in run.chosen:
                part = _ident(c.partition.name)
                await conn.execute(f"ALTER TABLE {c.partition.table} DETACH PARTITION {part}")
            # Asked again under the detach's locks: a complaint registered meanwhile
            # about one of these pays keeps its month.
            reasons = await refusals(conn, run.chosen)
            if reasons:
                raise ArchiveRefused(reasons)
            for c in run.chosen:
                await conn.execute(f"DROP TABLE {_ident(c.partition.name)}")
    except BaseException:
        for w in run.written:
            for path in (w.path, _sum_path(w.path)):
                path.unlink(missing_ok=True)
        raise
    return run


async def _write(conn: Connection, c: Chosen, out_dir: Path) -> Written:
    """COPY the partition into a gzip file, fsync it, read it back, and checksum it."""
    path = out_dir / f"{c.partition.name}.csv.gz"
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb") as gz:

        async def sink(chunk: bytes) -> None:
            gz.write(chunk)

        status = await conn.copy_from_query(
            f"SELECT * FROM {_ident(c.partition.name)} ORDER BY id",
            output=sink,
            format="csv",
            header=True,
        )
    rows = int(str(status).split()[-1])
    counted = await conn.fetchval(f"SELECT count(*) FROM {_ident(c.partition.name)}")
    if rows != counted:
        raise OSError(f"{path}: COPY wrote {rows} rows of {counted}")
    return Written(c, path, rows, _seal(tmp, path))


def _seal(tmp: Path, path: Path) -> str:
    """Make the written file durable, check it reads back whole, put it in place
    with its checksum file; returns the checksum."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    written = _sha256(tmp)
    with gzip.open(tmp, "rb") as gz:  # the whole file decompresses (a torn write fails)
        while gz.read(READ_CHUNK_BYTES):
            pass
    tmp.replace(path)
    _sum_path(path).write_text(f"{written}  {path.name}\n")
    if _sha256(path) != written:
        raise OSError(f"{path} changed while it was being archived")
    return written


async def _record(conn: Connection, written: list[Written]) -> None:
    """The archive's own records, and what its transfers moved per account."""
    for w in written:
        c = w.chosen
        await conn.execute(
            """INSERT INTO history_archives (table_name, partition_name, first_month, last_month,
                   id_from, id_to, row_count, file_name, sha256)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            c.partition.table,
            c.partition.name,
            c.first_month,
            c.last_month,
            c.id_from,
            c.id_to,
            w.rows,
            str(w.path),
            w.sha256,
        )
        if c.partition.table == "transfers":
            # Posted transfers moved their amount from debit to credit (a two-phase one
            # through in-flight, which nets to zero); voided and refused ones moved nothing.
            await conn.execute(
                f"""INSERT INTO ledger_archived (account_id, net_paise)
                    SELECT acc, sum(delta) FROM (
                        SELECT credit_account_id AS acc, amount_paise AS delta
                          FROM {_ident(c.partition.name)} WHERE state = 2
                        UNION ALL
                        SELECT debit_account_id, -amount_paise
                          FROM {_ident(c.partition.name)} WHERE state = 2) m
                    GROUP BY acc
                    ON CONFLICT (account_id)
                    DO UPDATE SET net_paise = ledger_archived.net_paise + EXCLUDED.net_paise"""
            )


async def archived_months(db: Database, first: dt.date | None, last: dt.date | None) -> list[str]:
    """The months between two days (either open) whose pays were archived: a report
    over them says it leaves those out."""
    rows = await db.fetch(
        """SELECT DISTINCT m::date AS month FROM history_archives a,
                  generate_series(a.first_month, a.last_month, interval '1 month') m
            WHERE a.table_name = 'pays'
              AND ($1::date IS NULL OR m >= date_trunc('month', $1::date))
              AND ($2::date IS NULL OR m <= $2::date)
            ORDER BY 1""",
        first,
        last,
    )
    return [month_name(r["month"]) for r in rows]


async def archived_pay(db: Database, pay_id: int) -> str | None:
    """Where the pays of this id's month went, if they were archived (None: not)."""
    row = await db.fetchrow(
        """SELECT partition_name, file_name FROM history_archives
            WHERE table_name = 'pays' AND $1 >= id_from AND $1 < id_to""",
        pay_id,
    )
    if row is None:
        return None
    return f"its month was archived with {row['partition_name']} to {row['file_name']}"


def verify(path: Path) -> bool:
    """The file matches the checksum written beside it."""
    expected = _sum_path(path).read_text().split()[0]
    return _sha256(path) == expected


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
