"""Migration 0015 moves the rows of an unpartitioned database into partitions: the
old rows keep their ids (printed on receipts) in the legacy partitions, their keys
still refuse a second use, and new rows land in the month's partition."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from switch.config import ServicesConfig
from switch.db import migrate as migrate_mod
from switch.db.migrate import migrate, shipped_migrations
from switch.history import archive as archiving
from switch.history.months import month_base, month_of_id, next_month, this_month
from switch.ledger import invariants
from switch.services import ServiceUrls, postgres
from tests.history.test_archive import two_months_on

BEFORE_PARTITIONING = 14


@pytest.fixture
def empty_database(services: ServiceUrls, services_config: ServicesConfig) -> Iterator[str]:
    name = f"m_{uuid.uuid4().hex[:12]}"
    postgres.psql(services_config, f'CREATE DATABASE "{name}"')
    try:
        yield postgres.url(services_config, name)
    finally:
        postgres.psql(services_config, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _old_books(conn: asyncpg.Connection) -> dict[str, int]:
    """A top-up and a posted pay written the way the switch did before 0015."""
    wallet = await conn.fetchval(
        """INSERT INTO accounts (kind, code, name, may_go_negative)
           VALUES ('wallet', 'wallet:AG1', 'AG1', false) RETURNING id"""
    )
    biller = await conn.fetchval(
        """INSERT INTO accounts (kind, code, name, may_go_negative)
           VALUES ('biller', 'biller:B1', 'B1', false) RETURNING id"""
    )
    funding = await conn.fetchval("SELECT id FROM accounts WHERE code = 'system:funding'")
    call = "SELECT r_code, r_transfer_id FROM ledger_apply($1, $2, $3, $4, $5, $6)"
    await conn.fetch(call, [4], ["topup:BANK1"], [funding], [wallet], [1000_00], [0])
    await conn.fetch(call, [1], ["pay:T1:R1"], [wallet], [biller], [250_00], [60_000])
    await conn.fetch(call, [2], ["pay:T1:R1"], [0], [0], [0], [0])
    pay_id = await conn.fetchval(
        """INSERT INTO pays (terminal_id, terminal_ref, agent_id, biller_id, consumer_account,
                             amount_paise, mobile, state)
           VALUES ('T1', 'R1', 'AG1', 'B1', '12345', 250_00, '9876543210', 'posted')
           RETURNING id"""
    )
    await conn.execute(
        """INSERT INTO sms_outbox (pay_id, mobile, body, state)
           VALUES ($1, '9876543210', 'paid', 'sent')""",
        pay_id,
    )
    return {"wallet": wallet, "biller": biller, "funding": funding, "pay": pay_id}


def test_old_rows_move_into_legacy_partitions_and_keep_their_keys(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(empty_database)
        try:
            everything = shipped_migrations()
            monkeypatch.setattr(
                migrate_mod, "shipped_migrations", lambda: everything[:BEFORE_PARTITIONING]
            )
            await migrate(conn)
            old = await _old_books(conn)
            monkeypatch.setattr(migrate_mod, "shipped_migrations", lambda: everything)
            applied = await migrate(conn)
            assert [m.version for m in applied] == list(
                range(BEFORE_PARTITIONING + 1, len(everything) + 1)
            )
            await _check_moved(conn, old)
        finally:
            await conn.close()

    asyncio.run(run())


async def _check_moved(conn: asyncpg.Connection, old: dict[str, int]) -> None:
    where = await conn.fetch(
        "SELECT tableoid::regclass::text AS part, id FROM pays UNION ALL "
        "SELECT tableoid::regclass::text, id FROM transfers UNION ALL "
        "SELECT tableoid::regclass::text, id FROM sms_outbox ORDER BY 1, 2"
    )
    assert [(r["part"], r["id"]) for r in where] == [
        ("pays_legacy", old["pay"]),
        ("sms_outbox_legacy", 1),
        ("transfers_legacy", 1),
        ("transfers_legacy", 2),
    ]
    # The keys: the old pay's reference finds it; the old ledger keys replay.
    assert (
        await conn.fetchval(
            "SELECT pay_id FROM pay_refs WHERE terminal_id = 'T1' AND terminal_ref = 'R1'"
        )
        == old["pay"]
    )
    call = "SELECT r_code, r_transfer_id FROM ledger_apply($1, $2, $3, $4, $5, $6)"
    replay = await conn.fetchrow(
        call, [4], ["topup:BANK1"], [old["funding"]], [old["wallet"]], [1000_00], [0]
    )
    assert (replay["r_code"], replay["r_transfer_id"]) == (1, 1)  # a replay, not a new top-up
    # A new transfer's id says this month, and it lands in this month's partition.
    new = await conn.fetchrow(
        call, [4], ["topup:BANK2"], [old["funding"]], [old["wallet"]], [5_00], [0]
    )
    assert new["r_code"] == 0 and month_of_id(new["r_transfer_id"]) == this_month()
    assert new["r_transfer_id"] >= month_base(this_month())
    assert (
        await conn.fetchval(
            "SELECT tableoid::regclass::text FROM transfers WHERE id = $1", new["r_transfer_id"]
        )
        == f"transfers_{this_month():%Y%m}"
    )
    # Deleting from a partition directly is refused, as from the table.
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="never deleted"):
        await conn.execute("DELETE FROM transfers_legacy")
    assert await invariants.check(conn) == []
    # The legacy partitions are archived together, and only once they may be: this
    # one's posted pay is not in a settlement window.
    chosen = await archiving.plan(conn, next_month(this_month()), now=two_months_on())
    legacy = {c.partition.name: c for c in chosen if c.partition.month is None}
    assert set(legacy) == {"pays_legacy", "transfers_legacy", "sms_outbox_legacy"}
    assert (legacy["pays_legacy"].id_from, legacy["pays_legacy"].id_to) == (
        0,
        month_base(this_month()),
    )
    assert "pays_legacy: 1 posted pays not yet settled" in await archiving.refusals(conn, chosen)
