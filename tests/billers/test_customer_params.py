"""Customer parameters and the fetched bill (the catalogue's rules), end to end with
the real water simulator: a second parameter reaches the biller and is checked
there; a bad parameter, a pay without the fetch a biller requires, an amount outside
its rule, and an altered, expired or other consumer's bill reference are each refused
with their own code, before anything is recorded or held."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator

import pytest

from simulators.epos.connection import EposConnection, connect
from simulators.water.simulator import water_account
from switch.catalogue import params as consumer_params
from switch.config import BillerConfig, Config, ParamConfig
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch, running_switch
from switch.services.manager import ServiceUrls
from tests.billers.conftest import World
from tests.helpers import books, one_terminal

DJB = BillerConfig(
    id="DJB",
    name="Delhi Jal Board",
    kind="water",
    connector="stub",
    fetch_required=True,
    amount_rule="exact",
    params=(
        ParamConfig("account", "Connection ID", "कनेक्शन आईडी", r"[0-9]{10}"),
        ParamConfig("mobile", "Registered mobile", "पंजीकृत मोबाइल", r"[6-9][0-9]{9}"),
    ),
)
ACCOUNT, MOBILE = "1234567890", "9876543210"


async def test_the_second_parameter_reaches_the_biller(world: World) -> None:
    account = water_account(1, 5)
    registered = world.water.consumers[account].mobile
    other = "6000000000" if registered != "6000000000" else "6000000001"
    async with connect(world.terminals[0]) as conn:
        bill = await conn.request(
            "fetch_bill", biller="JALSEWA", account=account, params={"mobile": registered}
        )
        wrong = await conn.request(
            "fetch_bill", biller="JALSEWA", account=account, params={"mobile": other}
        )
        badly_formed = await conn.request(
            "fetch_bill", biller="JALSEWA", account=account, params={"mobile": "12345"}
        )
        without = await conn.request("fetch_bill", biller="JALSEWA", account=account)
        paid = await conn.request(
            "pay",
            ref="W1",
            biller="JALSEWA",
            account=account,
            amount_paise=bill["amount_paise"],
            params={"mobile": registered},
            bill_ref=bill["bill_ref"],
        )
        refused = await conn.request(  # no fetch needed here: the scheme itself says no
            "pay",
            ref="W2",
            biller="JALSEWA",
            account=account,
            amount_paise=100,
            params={"mobile": other},
        )
    assert paid["status"] == "success"
    stored = await world.switch.db.fetchval(
        "SELECT consumer_params FROM pays WHERE id = $1", paid["txn"]
    )
    assert json.loads(stored) == {"mobile": registered}  # kept with the pay, sent with it
    assert refused["status"] == "failed" and refused["code"] == "unknown_consumer"
    assert bill["type"] == "bill" and bill["amount_paise"] > 0 and bill["bill_ref"]
    assert wrong["code"] == "unknown_consumer"  # the scheme checked it
    assert badly_formed["code"] == "invalid_request" and "mobile" in badly_formed["message"]
    assert without["type"] == "bill"  # the mobile is optional for this scheme


@pytest.fixture
async def djb(
    switch_config: Config, database_url: str, services: ServiceUrls
) -> AsyncIterator[tuple[RunningSwitch, Credentials]]:
    cfg = switch_config.replace(billers=(*switch_config.billers, DJB))
    async with running_switch(cfg, database_url, services.redis_url) as sw:
        yield sw, await one_terminal(sw, wallet_paise=10_000_00)
        assert await sw.ledger.check_invariants() == []


async def fetch(conn: EposConnection, **params: str) -> dict[str, object]:
    return await conn.request(
        "fetch_bill", biller="DJB", account=ACCOUNT, params={"mobile": MOBILE, **params}
    )


async def pay(conn: EposConnection, ref: str, amount: int, **fields: object) -> dict[str, object]:
    fields = {"params": {"mobile": MOBILE}, **fields}
    return await conn.request(
        "pay", ref=ref, biller="DJB", account=ACCOUNT, amount_paise=amount, **fields
    )


async def test_every_refusal_has_its_code_and_holds_nothing(
    djb: tuple[RunningSwitch, Credentials], database_url: str
) -> None:
    _, creds = djb
    async with connect(creds) as conn:
        missing = await conn.request("fetch_bill", biller="DJB", account=ACCOUNT)
        unknown = await fetch(conn, meter="7")
        bill = await fetch(conn)
        due, ref = int(bill["amount_paise"]), str(bill["bill_ref"])  # type: ignore[call-overload]
        before = books(database_url)
        no_fetch = await pay(conn, "N1", due)
        wrong_amount = await pay(conn, "N2", due - 100, bill_ref=ref)
        altered = await pay(
            conn, "N3", due, bill_ref=ref[:-2] + ("AA" if ref[-2:] != "AA" else "BB")
        )
        other_consumer = await pay(conn, "N4", due, bill_ref=ref, params={"mobile": "9000000000"})
        assert books(database_url) == before  # nothing recorded, nothing held
        paid = await pay(conn, "OK1", due, bill_ref=ref)
    assert missing["code"] == "invalid_request" and "params.mobile" in missing["message"]
    assert unknown["code"] == "invalid_request" and "meter" in unknown["message"]
    assert no_fetch["code"] == "fetch_required"
    assert wrong_amount["code"] == "invalid_amount"
    assert altered["code"] == "bill_mismatch"
    assert other_consumer["code"] == "bill_mismatch"
    assert paid["status"] == "success" and paid["receipt"]["amount_paise"] == due


async def test_an_expired_bill_is_refused_but_a_retry_of_its_pay_is_answered(
    djb: tuple[RunningSwitch, Credentials],
) -> None:
    sw, creds = djb
    refs = sw.deps.service._bill_refs
    assert refs is not None
    async with connect(creds) as conn:
        bill = await fetch(conn)
        due = int(bill["amount_paise"])  # type: ignore[call-overload]
        paid = await pay(conn, "E1", due, bill_ref=bill["bill_ref"])
        consumer = consumer_params.digest(ACCOUNT, {"mobile": MOBILE})
        an_hour_ago = refs.issue("DJB", consumer, due, time.time() - 3600)
        retried = await pay(conn, "E1", due, bill_ref=an_hour_ago)  # the same pay, again
        fresh = await pay(conn, "E2", due, bill_ref=an_hour_ago)  # a new pay on it
    assert paid["status"] == "success"
    assert retried["status"] == "success" and retried["txn"] == paid["txn"]
    assert fresh["code"] == "bill_mismatch" and "expired" in fresh["message"]


def test_amount_rules() -> None:
    from switch.catalogue.amounts import refusal

    partial = dataclasses.replace(DJB, amount_rule="partial")
    advance = dataclasses.replace(DJB, amount_rule="advance", advance_cap_paise=500_00)
    assert refusal(DJB, 1000_00, 1000_00) is None and refusal(DJB, 999_99, 1000_00)
    assert refusal(partial, 100, 1000_00) is None and refusal(partial, 1000_01, 1000_00)
    assert refusal(partial, 99, None)  # ₹1 is the least, bill or no bill
    assert refusal(advance, 1500_00, 1000_00) is None and refusal(advance, 1500_01, 1000_00)
