"""The e-POS fleet against a real switch: receipts match the books, retries never double."""

from __future__ import annotations

import dataclasses

import pytest
import trio

from simulators.epos.fleet import Consumer, run_fleet
from switch.config import Config
from switch.protocols.billers.base import BillerPayment, BillerReceipt
from switch.protocols.billers.stub import StubConnector
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch, running_switch
from switch.services import ServiceUrls
from tests.helpers import agent_with_terminals, scalar

CONSUMERS = [Consumer("UPPCL", f"{1_000_000_000 + i}") for i in range(50)]


async def test_a_fleet_pays_and_every_receipt_is_posted(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str
) -> None:
    stats, fleet = await run_fleet(terminals, CONSUMERS, duration_s=2.0, pause_s=0.05)
    receipts = [r for t in fleet for r in t.receipts]
    assert stats.pays_ok == len(receipts) > 0
    assert stats.pays_pending == 0
    posted = scalar(database_url, "SELECT count(*) FROM pays WHERE state = 'posted'")
    assert posted == len(receipts)
    for r in receipts:
        state = scalar(database_url, "SELECT state FROM pays WHERE id = $1", r["txn"])
        assert state == "posted"
    biller = await switch.ledger.account_by_code("biller:UPPCL")
    assert biller.balance_paise == sum(r["amount_paise"] for r in receipts)


async def test_a_pay_that_times_out_is_asked_again_with_the_same_ref(
    switch: RunningSwitch,
    terminals: list[Credentials],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = StubConnector.pay
    slowed: list[int] = []

    async def slow_first_pay(self: StubConnector, payment: BillerPayment) -> BillerReceipt:
        if not slowed:
            slowed.append(payment.switch_txn_id)
            await trio.sleep(1.5)  # longer than the terminal waits
        return await original(self, payment)

    monkeypatch.setattr(StubConnector, "pay", slow_first_pay)
    stats, fleet = await run_fleet(
        terminals[:1], CONSUMERS[:1], duration_s=2.5, request_timeout_s=0.5, pause_s=0.1
    )
    assert slowed and stats.retries >= 1 and stats.reconnects >= 1, stats
    receipts = fleet[0].receipts
    # The slow pay was answered on the retry, under its first txn id; nothing doubled.
    assert slowed[0] in {r["txn"] for r in receipts}
    assert len({r["ref"] for r in receipts}) == len(receipts)
    pays = scalar(database_url, "SELECT count(*) FROM pays WHERE state = 'posted'")
    assert pays == len(receipts)


async def test_terminals_over_the_handshake_door_reconnect_and_pay(
    switch_config: Config, database_url: str, services: ServiceUrls
) -> None:
    """Ten terminals connecting at once from one address through a door of three
    pending handshakes: the rest are closed on arrival and, as real terminals do,
    reconnect; every one gets to pay (a plain `switch demo` once crashed here)."""
    terminals_cfg = dataclasses.replace(switch_config.terminals, max_handshakes_per_ip=3)
    async with running_switch(
        switch_config.replace(terminals=terminals_cfg), database_url, services.redis_url
    ) as sw:
        creds = await agent_with_terminals(sw, 10, wallet_paise=9_00_000_00)
        stats, fleet = await run_fleet(creds, CONSUMERS, duration_s=3.0, pause_s=0.05)
        assert sw.deps.gate.statistics().refused["handshakes_per_ip"] > 0
        assert stats.reconnects > 0 and all(t.receipts for t in fleet)
        assert await sw.ledger.check_invariants() == []
