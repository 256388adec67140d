"""Archiving a month: refused while anything about it is open, then written to
checksummed files and dropped, with the money, the keys and the reports still right."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import pytest

from simulators.epos.connection import connect
from switch.history import archive as archiving
from switch.history.months import month_name, next_month, this_month
from switch.history.partitions import make_ahead
from switch.ledger import pay_key
from switch.ledger.errors import TransferArchived
from switch.ops.sampler import Sampler
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch
from tests.helpers import scalar
from tests.settlement.conftest import calendar_cut_at, db_now, pay, settlement_for
from tests.settlement.test_settlement import sha256sum_accepts


def two_months_on() -> dt.datetime:
    """A clock two months ahead: the pays made now are in a month long closed."""
    return dt.datetime.combine(next_month(next_month(this_month())), dt.time(12), dt.UTC)


async def test_a_settled_month_is_archived_and_its_keys_stay_used(
    switch: RunningSwitch, terminals: list[Credentials], tmp_path: Path
) -> None:
    ids = [await pay(terminals[n % 2], f"H{n}", 100_00 + n) for n in range(4)]
    month = this_month()
    before, later = next_month(month), two_months_on()
    out = tmp_path / "archive"

    # Unsettled posted pays keep the month in the database; nothing is written.
    with pytest.raises(archiving.ArchiveRefused) as refused:
        await switch.db.run(lambda c: archiving.archive(c, before, out, now=later))
    assert any("4 posted pays not yet settled" in r for r in refused.value.reasons)
    assert not out.exists() or not list(out.iterdir())
    assert scalar(switch.db.url, "SELECT count(*) FROM pays") == 4

    # The current month itself is never archived.
    with pytest.raises(archiving.ArchiveRefused, match="current month"):
        await switch.db.run(lambda c: archiving.archive(c, before, out))

    # An open reconciliation case about one of its pays keeps it too, until resolved.
    await switch.db.execute(
        """INSERT INTO recon_cases (kind, pay_id, biller_id, detail, suggested_action)
           VALUES ('amount_mismatch', $1, 'UPPCL', 'test', 'look')""",
        ids[0],
    )
    cut = await db_now(switch)
    cal = calendar_cut_at(cut)
    day = cal.business_date(cut - dt.timedelta(seconds=1))
    await settlement_for(switch, tmp_path / "settle", cal).close("UPPCL", day, now=cut)
    with pytest.raises(archiving.ArchiveRefused, match="1 open reconciliation cases"):
        await switch.db.run(lambda c: archiving.archive(c, before, out, now=later))
    await switch.db.execute(
        """UPDATE recon_cases SET state = 'resolved', resolution = 'no_money', resolved_at = now()
            WHERE pay_id = $1""",
        ids[0],
    )
    balances = await switch.db.fetch("SELECT id, balance_paise FROM accounts ORDER BY id")
    original = await switch.db.fetch("SELECT * FROM pays ORDER BY id")
    run = await switch.db.run(lambda c: archiving.archive(c, before, out, now=later))

    suffix = f"{month:%Y%m}"
    assert {w.chosen.partition.name for w in run.written} == {
        f"pays_{suffix}",
        f"transfers_{suffix}",
        f"sms_outbox_{suffix}",
    }
    for w in run.written:
        assert sha256sum_accepts(w.path) and archiving.verify(w.path)
    pays_file = next(w for w in run.written if w.chosen.partition.table == "pays")
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(pays_file.path.read_bytes()).decode())))
    assert sorted(int(r["id"]) for r in rows) == sorted(ids)
    assert {r["state"] for r in rows} == {"posted"} and pays_file.rows == 4
    # The file restores into a table of the same shape, row for row, value for value.
    await switch.db.execute("CREATE TABLE pays_restored (LIKE pays)")
    data = gzip.decompress(pays_file.path.read_bytes())
    await switch.db.run(
        lambda c: c.copy_to_table(
            "pays_restored", source=io.BytesIO(data), format="csv", header=True
        )
    )
    restored = await switch.db.fetch("SELECT * FROM pays_restored ORDER BY id")
    assert [dict(r) for r in restored] == [dict(r) for r in original]

    # Out of the database, and never made again by the partition maker.
    assert scalar(switch.db.url, "SELECT to_regclass($1)::text", f"pays_{suffix}") is None
    assert scalar(switch.db.url, "SELECT count(*) FROM pays") == 0
    await switch.db.fetchval("SELECT history_make_partitions(3)")
    assert scalar(switch.db.url, "SELECT to_regclass($1)::text", f"pays_{suffix}") is None

    # The money: every balance as before, and the ledger's check still balances.
    assert await switch.db.fetch("SELECT id, balance_paise FROM accounts ORDER BY id") == balances
    assert await switch.ledger.check_invariants() == []

    # The keys stay used: a terminal's retry is refused, a ledger replay too.
    async with connect(terminals[0]) as conn:
        again = await conn.request(
            "pay", ref="H0", biller="UPPCL", account="1234500000", amount_paise=100_00
        )
    assert again["code"] == "reference_reused", again
    with pytest.raises(TransferArchived):
        await switch.ledger.post(pay_key(terminals[0].terminal_id, "H0"))

    # Reports over the month say it is archived.
    assert await archiving.archived_months(switch.db, month, None) == [month_name(month)]
    assert await archiving.archived_months(switch.db, None, month - dt.timedelta(days=1)) == []


async def test_a_missing_month_shows_in_the_gauge_until_it_is_made(switch: RunningSwitch) -> None:
    """The alert's gauge counts the months ready from this one on; the maker mends a
    missing one (as the switch's hourly task, or `switch db partitions`, does)."""
    gap = next_month(next_month(this_month()))
    await switch.db.execute(f"DROP TABLE transfers_{gap:%Y%m}")
    sampler = Sampler(switch.db, switch.metrics, 1.0)
    await sampler.sample_once()
    assert switch.metrics.registry.get_sample_value("switch_history_months_ready") == 2
    assert await switch.db.run(make_ahead) == 1
    await sampler.sample_once()
    assert switch.metrics.registry.get_sample_value("switch_history_months_ready") == 4
