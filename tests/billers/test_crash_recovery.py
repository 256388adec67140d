"""The switch SIGKILLed in the middle of a stream of pays, then restarted: every pay
ends posted or voided, every printed receipt is posted, the books balance and agree
with the biller's, payment by payment."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import trio

from simulators.discom.simulator import discom_account
from simulators.epos.fleet import Consumer, FleetStats, pay_part, run_fleet
from switch.db.database import Database
from switch.demo.stack import Stack
from switch.ledger import Ledger
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.fleet import provision_fleet
from switch.provisioning.identity import load_or_create
from switch.services.common import free_tcp_port


def config(tmp: Path, discom_port: int) -> Path:
    path = tmp / "switch.toml"
    path.write_text(f"""
[terminals]
identity_key_file = "{tmp / "switch.key"}"
[sms]
enabled = false
[pays]
recovery_idle_s = 2.0
recovery_interval_s = 0.5
inquiry_backoff_base_s = 0.2
[[billers]]
id = "UPPCL"
name = "UPPCL"
endpoint = "http://127.0.0.1:{discom_port}"
timeout_s = 1.0
""")
    return path


def test_sigkill_mid_stream_and_restart(tmp_path: Path, database_url: str) -> None:
    stack = Stack(tmp_path)
    try:
        discom = stack.start_simulator("discom", seed=1, accounts=2000)
        cfg = config(tmp_path, discom)
        port = free_tcp_port()
        stack.start_switch(cfg, database_url, "redis://unused", port)
        trio.run(scenario, stack, cfg, database_url, port, discom, tmp_path)
    finally:
        stack.stop()


async def scenario(stack: Stack, cfg: Path, url: str, port: int, discom: int, tmp: Path) -> None:
    key = public_bytes(load_or_create(tmp / "switch.key"))
    async with Database.open(url, 4) as db, Ledger.open(db) as ledger:
        creds = await provision_fleet(
            db, ledger, key, f"127.0.0.1:{port}", agents=20, wallet_paise=1_00_000_00, prefix="KILL"
        )
        consumers = [Consumer("UPPCL", discom_account(1, n)) for n in range(2000)]
        stats = FleetStats()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_fleet(
                    creds,
                    consumers,
                    8,
                    stats=stats,
                    request_timeout_s=2,
                    amount=pay_part(random.Random(3)),
                )
            )
            for _ in range(2):  # two crashes, each in the middle of the stream
                await trio.sleep(2)
                stack.kill("switch")
                await trio.sleep(0.5)
                await trio.to_thread.run_sync(stack.start_switch, cfg, url, "redis://unused", port)
        with trio.fail_after(60):  # recovery finishes what the crashes interrupted
            while await db.fetchval(  # noqa: ASYNC110 (polls the database)
                "SELECT count(*) FROM pays WHERE state NOT IN ('posted', 'voided')"
            ):
                await trio.sleep(0.5)
        assert stats.pays_ok > 0 and stats.reconnects > 0
        assert await ledger.check_invariants() == []
        posted = {
            r["id"]: (r["amount_paise"], r["biller_txn_id"])
            for r in await db.fetch(
                "SELECT id, amount_paise, biller_txn_id FROM pays WHERE state = 'posted'"
            )
        }
        async with httpx.AsyncClient() as client:
            report = (await client.get(f"http://127.0.0.1:{discom}/v1/report?date=")).json()
        applied = {
            p["switch_txn_id"]: (p["amount_paise"], p["biller_txn_id"])
            for p in report["payments"]
            if p["status"] == "applied"
        }
        assert posted == applied  # nothing lost, nothing doubled
        # Every receipt a terminal printed is posted.
        receipts = {int(r["txn"]) for r in stats.receipts}
        assert receipts <= set(posted)
