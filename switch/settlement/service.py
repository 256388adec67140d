"""Settlement, driven: close due windows, write their files, settle them.

``Settlement.close(biller, day)`` is the whole of one window's settlement, in three
idempotent steps, each safe to repeat after a crash at any point:

1. close  (one transaction): snapshot of the window's posted pays and totals;
2. file   (written atomically, a pure function of the snapshot): CSV + .sha256;
3. settle (one transaction): every ledger transfer of the window, and 'settled'.

``run`` does it by itself in every switch process: each ``check_interval_s`` it
closes every biller's windows whose cut-off (plus ``close_grace_s``) has passed,
oldest first. The per-biller advisory lock in switch/settlement/store.py makes one
process do each window; the others find it done.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from switch.config import BillerConfig, Config, SettlementConfig
from switch.db.database import Database
from switch.db.periodic import DATABASE_ERRORS, every
from switch.protocols.billers.base import BillerUnavailable, Connector
from switch.settlement import files, store
from switch.settlement.calendar import Calendar, calendar_from
from switch.settlement.recon import Reconciler, ReconSummary
from switch.settlement.store import NotDue, PaysInFlight, SettlementError, WindowRow

log = logging.getLogger("switch.settlement")
RUN_DEADLINE_S = 600.0  # one round of closing and reconciling (a day's window: ~1 s)


@dataclass
class SettlementStats:
    settled: int = 0
    waiting: int = 0  # windows due but with pays still in flight
    recon_waiting: int = 0  # reconciliations put off: the biller's report was unavailable
    failed: int = 0
    last_error: str = ""


def files_dir(cfg: Config) -> Path:
    """Where settlement files go: ``[settlement] files_dir``, else the data directory."""
    if cfg.settlement.files_dir:
        return Path(cfg.settlement.files_dir)
    return cfg.services.resolved_data_dir() / "settlement"


async def file_content(db: Database, w: WindowRow) -> bytes:
    """The bytes of the window's settlement file, rendered from its rows (a pure
    function of them: the same bytes every time)."""
    lines = await db.run(lambda c: store.items(c, w.id))
    adjustments = await db.run(lambda c: store.adjustments(c, w.id))
    return files.render(w, lines, adjustments)


def settlement_for(
    cfg: Config, db: Database, report_connectors: Mapping[str, Connector]
) -> Settlement:
    """The switch's settlement as configured, reconciling through these connectors."""
    return Settlement(
        db,
        cfg.billers,
        cfg.settlement,
        files_dir(cfg),
        reconciler_for=lambda cal: Reconciler(db, cal, report_connectors),
    )


class Settlement:
    def __init__(
        self,
        db: Database,
        billers: Sequence[BillerConfig],
        cfg: SettlementConfig,
        files_dir: Path,
        calendar: Calendar | None = None,
        reconciler_for: Callable[[Calendar], Reconciler] | None = None,
    ) -> None:
        self._db = db
        self._billers = {b.id: b for b in billers}
        self._cfg = cfg
        self.files_dir = files_dir
        self.calendar = calendar or calendar_from(cfg.cutoff, cfg.holidays_file, cfg.weekend)
        self.reconciler = reconciler_for(self.calendar) if reconciler_for else None
        self.stats = SettlementStats()

    def statistics(self) -> SettlementStats:
        return self.stats

    def biller(self, biller_id: str) -> BillerConfig:
        try:
            return self._billers[biller_id]
        except KeyError:
            raise SettlementError(f"no biller {biller_id!r} configured") from None

    async def now(self) -> dt.datetime:
        """The database's clock: the one that stamped the pays."""
        value: dt.datetime = await self._db.fetchval("SELECT now()")
        return value

    async def close(
        self, biller_id: str, day: dt.date, now: dt.datetime | None = None
    ) -> WindowRow:
        """Close, file and settle one window (each step idempotent)."""
        biller = self.biller(biller_id)
        window = self.calendar.window(day)
        now = now or await self.now()
        closed = await self._db.run(
            lambda c: store.close(
                c,
                biller.id,
                window,
                biller.commission_bps,
                biller.fee_paise,
                now,
                self._cfg.close_grace_s,
            )
        )
        sha = await self.write_file(closed)
        settled = await self._db.run(lambda c: store.settle(c, biller.id, day, sha))
        if settled.file_sha256 != sha:
            raise SettlementError(f"{biller_id} {day}: file differs from the one settled")
        return settled

    async def write_file(self, w: WindowRow) -> str:
        """(Re)write the window's settlement file; return its SHA-256."""
        content = await file_content(self._db, w)
        await trio.to_thread.run_sync(files.write, self.files_dir, w, content)
        return files.digest(content)

    async def windows(self, limit: int = 10_000) -> list[WindowRow]:
        """Closed and settled windows, newest first."""
        return await self._db.run(lambda c: store.windows(c, None, limit))

    async def files(self, day: dt.date | None, verify: bool) -> list[dict[str, object]]:
        """Write every settled window's file again (or with ``verify`` only check it):
        ok means the bytes match their .sha256 and the digest settled with; ``missing``
        that the file is not there (never written here: ``settle files`` writes it)."""
        out: list[dict[str, object]] = []
        for w in await self.windows():
            if w.state != "settled" or (day is not None and w.business_date != day):
                continue
            path = self.files_dir / w.biller_id / files.file_name(w)
            missing = verify and not path.exists()
            if missing:
                ok = False
            elif verify:
                ok = files.verify(path) and files.digest(path.read_bytes()) == w.file_sha256
            else:
                ok = await self.write_file(w) == w.file_sha256
            out.append(
                {
                    "biller_id": w.biller_id,
                    "file": str(path),
                    "sha256": w.file_sha256,
                    "ok": ok,
                    "missing": missing,
                }
            )
        return out

    async def open_window(self, biller_id: str, now: dt.datetime) -> dict[str, object]:
        """The window pays are falling into now, what it holds so far, and what is due."""
        day = self.calendar.business_date(now)
        window = self.calendar.window(day)
        row = await self._db.fetchrow(
            """SELECT count(*) FILTER (WHERE state = 'posted')::int AS posted,
                      coalesce(sum(amount_paise) FILTER (WHERE state = 'posted'), 0)::bigint
                          AS posted_paise,
                      count(*) FILTER (WHERE state NOT IN ('posted', 'voided'))::int AS in_flight
                 FROM pays WHERE biller_id = $1 AND created_at >= $2 AND created_at < $3""",
            biller_id,
            window.starts_at,
            window.ends_at,
        )
        assert row is not None
        return {
            "biller_id": biller_id,
            "business_date": day.isoformat(),
            "starts_at": window.starts_at.isoformat(),
            "cutoff_at": window.ends_at.isoformat(),
            **dict(row),
            "due_unsettled": [d.isoformat() for d in await self.due_days(biller_id, now)],
        }

    async def due_days(self, biller_id: str, now: dt.datetime) -> list[dt.date]:
        """Business days of this biller whose windows are due and not settled, oldest
        first, at most ``max_windows_per_check``."""
        last = await self._db.fetchrow(
            """SELECT business_date, state FROM settlement_windows WHERE biller_id = $1
                ORDER BY business_date DESC LIMIT 1""",
            biller_id,
        )
        if last is not None and last["state"] != "settled":
            day = last["business_date"]  # closed, not settled: finish it first
        elif last is not None:
            day = self.calendar.next_business_day(last["business_date"])
        else:
            first = await self._db.fetchval(
                "SELECT min(created_at) FROM pays WHERE biller_id = $1", biller_id
            )
            if first is None:
                return []
            day = self.calendar.business_date(first)
        days: list[dt.date] = []
        grace = dt.timedelta(seconds=self._cfg.close_grace_s)
        while len(days) < self._cfg.max_windows_per_check:
            if self.calendar.window(day).ends_at + grace > now:
                break
            days.append(day)
            day = self.calendar.next_business_day(day)
        return days

    async def close_due(self, now: dt.datetime | None = None) -> list[WindowRow]:
        """Every due window of every biller, oldest first; a biller whose oldest due
        window waits on pays in flight waits there (windows settle in order)."""
        now = now or await self.now()
        settled: list[WindowRow] = []
        for biller_id in self._billers:
            for day in await self.due_days(biller_id, now):
                try:
                    settled.append(await self.close(biller_id, day, now))
                except (PaysInFlight, NotDue) as exc:
                    self.stats.waiting += 1
                    log.info("settlement waits: %s", exc)
                    break
                self.stats.settled += 1
        return settled

    async def reconcile_pending(self, limit: int = 31) -> list[ReconSummary]:
        """Reconcile settled windows that have no reconciliation run yet, oldest first.
        A biller whose report cannot be had now is tried again next time."""
        if self.reconciler is None:
            return []
        rows = await self._db.fetch(
            """SELECT w.biller_id, w.business_date FROM settlement_windows w
                 LEFT JOIN recon_runs r USING (biller_id, business_date)
                WHERE w.state = 'settled' AND r.biller_id IS NULL
                ORDER BY w.business_date, w.biller_id LIMIT $1""",
            limit,
        )
        done = []
        for row in rows:
            try:
                done.append(await self.reconciler.run(row["biller_id"], row["business_date"]))
            except BillerUnavailable as exc:
                self.stats.recon_waiting += 1
                log.warning("reconciliation waits for the biller's report: %s", exc)
        return done

    async def run(self) -> None:
        """Close due windows (then reconcile them) every ``check_interval_s``."""

        async def step() -> None:
            await self.close_due()
            await self.reconcile_pending()

        def failed(exc: Exception) -> None:
            self.stats.failed += 1
            self.stats.last_error = str(exc)

        await every(
            "settlement",
            self._cfg.check_interval_s,
            RUN_DEADLINE_S,
            step,
            errors=(SettlementError, *DATABASE_ERRORS),
            on_error=failed,
        )
