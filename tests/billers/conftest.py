"""The switch wired to real simulators over HTTP: a discom, a water scheme, SMS."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from simulators.run import start_simulator
from switch.config import DEFAULT_BILLERS, BillerConfig, Config, SmsConfig
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from switch.services import ServiceUrls

WATER_PARAMS = next(b for b in DEFAULT_BILLERS if b.id == "JALSEWA").params


@dataclass
class World:
    switch: RunningSwitch
    discom: Any
    water: Any
    sms: Any
    terminals: list[Credentials]
    ports: dict[str, int]
    cfg: Config
    # False in tests that break a biller's books on purpose (reconciliation finds it).
    books_agree: bool = True


@pytest.fixture
def biller_timeout_s() -> float:
    """The billers' deadline in the world (a module may want it shorter)."""
    return 5.0


@pytest.fixture
async def world(
    switch_config: Config,
    database_url: str,
    tmp_path: Path,
    services: ServiceUrls,
    biller_timeout_s: float,
) -> AsyncIterator[World]:
    async with open_world(switch_config, database_url, tmp_path, services, biller_timeout_s) as w:
        yield w


@asynccontextmanager
async def open_world(
    switch_config: Config,
    database_url: str,
    tmp_path: Path,
    services: ServiceUrls,
    biller_timeout_s: float,
    more: Callable[[Config], Config] = lambda cfg: cfg,
) -> AsyncIterator[World]:
    """The switch on the real simulators; ``more`` changes its config last (a test
    module's own sections)."""
    async with trio.open_nursery() as sims:
        discom, discom_port = await start_simulator(
            sims, "discom", tmp_path / "discom", accounts=200
        )
        water, water_port = await start_simulator(sims, "water", tmp_path / "water", accounts=200)
        sms, sms_port = await start_simulator(sims, "sms", tmp_path / "sms")
        cfg = more(
            switch_config.replace(
                billers=(
                    BillerConfig(
                        id="UPPCL",
                        name="UPPCL",
                        kind="electricity",
                        endpoint=f"http://127.0.0.1:{discom_port}",
                        timeout_s=biller_timeout_s,
                    ),
                    BillerConfig(
                        id="JALSEWA",
                        name="Jal Sewa",
                        kind="water",
                        endpoint=f"http://127.0.0.1:{water_port}",
                        timeout_s=biller_timeout_s,
                        params=WATER_PARAMS,  # connection number and registered mobile
                    ),
                ),
                sms=SmsConfig(
                    endpoint=f"http://127.0.0.1:{sms_port}",
                    poll_interval_s=0.05,
                    backoff_base_s=0.1,
                ),
            )
        )
        async with running_switch(cfg, database_url, services.redis_url) as sw:
            terminals = await provision_fleet(
                sw.db,
                sw.ledger,
                public_bytes(sw.deps.identity),
                f"127.0.0.1:{sw.port}",
                agents=2,
                wallet_paise=50_000_00,
                prefix="BIL",
            )
            ports = {"discom": discom_port, "water": water_port, "sms": sms_port}
            world = World(sw, discom, water, sms, terminals, ports, cfg)
            yield world
            await check_books(sw, discom, water, agree=world.books_agree)
        sims.cancel_scope.cancel()


async def check_books(sw: RunningSwitch, discom: Any, water: Any, *, agree: bool = True) -> None:
    """After every scenario: the ledger's invariants; each biller's payable holds
    exactly its posted pays not yet settled (plus force-posts not yet settled); and
    the switch agrees with each biller on every payment it holds as applied."""
    assert await sw.ledger.check_invariants() == []
    for biller_id in ("UPPCL", "JALSEWA"):
        unsettled = await sw.db.fetchval(
            """SELECT coalesce(sum(amount_paise), 0) FROM pays p WHERE biller_id = $1
                  AND state = 'posted'
                  AND NOT EXISTS (SELECT 1 FROM settlement_items i WHERE i.pay_id = p.id)""",
            biller_id,
        ) + await sw.db.fetchval(
            """SELECT coalesce(sum(amount_paise), 0) FROM settlement_adjustments
                WHERE biller_id = $1 AND kind = 'force_post' AND window_id IS NULL""",
            biller_id,
        )
        payable = await sw.ledger.account_by_code(f"biller:{biller_id}")
        assert payable.balance_paise == unsettled, biller_id
    if not agree:
        return
    for biller_id, sim in (("UPPCL", discom), ("JALSEWA", water)):
        rows = await sw.db.fetch(
            """SELECT id, amount_paise, biller_txn_id FROM pays
                WHERE biller_id = $1 AND state = 'posted'""",
            biller_id,
        )
        ours = {r["id"]: (r["amount_paise"], r["biller_txn_id"]) for r in rows}
        theirs = {
            p.switch_txn_id: (p.amount_paise, p.biller_txn_id)
            for p in sim.payments.values()
            if p.status == "applied"
        }
        assert ours == theirs, biller_id


def replace_sms(cfg: Config, **changes: Any) -> Config:
    return cfg.replace(sms=dataclasses.replace(cfg.sms, **changes))
