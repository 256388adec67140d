"""Helpers for settlement tests: pays made through real terminals, a calendar whose
cut-off falls between two pays, and a Settlement wired to the test's switch."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from pathlib import Path

from simulators.epos.connection import connect
from switch.config import BillerConfig, SettlementConfig
from switch.pays.store import PayStore
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch
from switch.settlement.calendar import IST, Calendar
from switch.settlement.service import Settlement

# The stub biller of the `switch` fixture, with commercial terms: 0.5% to the agent,
# ₹1 per pay to the switch.
UPPCL = BillerConfig(id="UPPCL", name="UPPCL", connector="stub", commission_bps=50, fee_paise=100)
EVERY_DAY = frozenset[int]()  # no weekend: tests run on any day of the week


async def pay(creds: Credentials, ref: str, amount_paise: int, biller: str = "UPPCL") -> int:
    """A pay through the terminal protocol; returns its switch txn id."""
    account = f"12345{zlib.crc32(ref.encode()) % 100_000:05d}"
    account = account[:-2] + "98" if account.endswith("99") else account  # 99: stub rejects
    async with connect(creds) as conn:
        result = await conn.request(
            "pay", ref=ref, biller=biller, account=account, amount_paise=amount_paise
        )
    assert result["status"] == "success", result
    return int(result["txn"])


async def created_at(sw: RunningSwitch, pay_id: int) -> dt.datetime:
    value: dt.datetime = await sw.db.fetchval("SELECT created_at FROM pays WHERE id = $1", pay_id)
    return value


async def db_now(sw: RunningSwitch) -> dt.datetime:
    value: dt.datetime = await sw.db.fetchval("SELECT clock_timestamp()")
    return value


def calendar_cut_at(t: dt.datetime, holidays: Sequence[dt.date] = ()) -> Calendar:
    """Every day a business day (but ``holidays``), with the cut-off at ``t``'s time."""
    return Calendar(t.astimezone(IST).time(), frozenset(holidays), EVERY_DAY)


def settlement_for(
    sw: RunningSwitch,
    files_dir: Path,
    calendar: Calendar,
    billers: Sequence[BillerConfig] = (UPPCL,),
) -> Settlement:
    return Settlement(sw.db, billers, SettlementConfig(close_grace_s=0.0), files_dir, calendar)


def pay_store(sw: RunningSwitch) -> PayStore:
    return sw.deps.service._store  # the running switch's own


async def wallet_of(sw: RunningSwitch, agent_id: str) -> int:
    wallet_id = await sw.db.fetchval("SELECT wallet_account_id FROM agents WHERE id = $1", agent_id)
    return await sw.ledger.balance(wallet_id)


async def balance(sw: RunningSwitch, code: str) -> int:
    return (await sw.ledger.account_by_code(code)).balance_paise
