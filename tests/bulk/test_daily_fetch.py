"""The daily fetch round: once its time of day has come, the serving switch fetches
each payer's sites from their discoms, once that day (claimed in the database, so one
process or node does it), and takes the bills in."""

from __future__ import annotations

import dataclasses

import pytest
import trio

from simulators.erp.simulator import ErpSimulator
from switch.config import Config
from tests.bulk.conftest import SpecAdmin
from tests.bulk.test_bulk_flow import SITES, a_payer, bills


@pytest.fixture
async def switch_config(switch_config: Config) -> Config:
    """The round is due from midnight, looked for five times a second."""
    bulk = dataclasses.replace(switch_config.bulk, fetch_at="00:00", fetch_check_s=0.2)
    return switch_config.replace(bulk=bulk)


async def test_each_payers_bills_are_fetched_once_a_day(
    admin: SpecAdmin, erp: tuple[ErpSimulator, int]
) -> None:
    payer = await a_payer(admin, erp[0])
    with trio.fail_after(20):
        while not await admin.sw.db.fetchval(  # noqa: ASYNC110 (polls the database)
            "SELECT finished_at IS NOT NULL FROM bulk_fetch_days WHERE payer_id = $1", payer
        ):
            await trio.sleep(0.2)
    got = await bills(admin, "circlenodal1", payer)
    assert len(got) == len(SITES) and {b["source"] for b in got.values()} == {"fetch"}
    await trio.sleep(1.0)  # five more looks: the day's round is not run again
    days = await admin.sw.db.fetch("SELECT * FROM bulk_fetch_days WHERE payer_id = $1", payer)
    assert len(days) == 1 and days[0]["taken_in"] == len(SITES)
    milestones = await admin.sw.db.fetchval(
        "SELECT count(*) FROM bill_milestones"
        " WHERE milestone = 'taken_in' AND actor = 'daily-fetch'"
    )
    assert milestones == len(SITES)
