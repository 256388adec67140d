"""What a terminal can do, end to end through the protocol, with money checked."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing

from simulators.epos.connection import connect
from switch.config import Config
from switch.ledger import pay_key
from switch.protocols.billers.stub import stub_amount_paise
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from tests.helpers import one_terminal, scalar, with_terminals

ACCOUNT = "1234567890"


async def wallet(sw: RunningSwitch, creds: Credentials) -> int:
    agent_wallet = await sw.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    return await sw.ledger.balance(agent_wallet)


async def test_fetch_then_pay_posts_to_the_biller(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0]) as conn:
        bill = await conn.request("fetch_bill", biller="UPPCL", account=ACCOUNT)
        assert bill["amount_paise"] == stub_amount_paise(ACCOUNT)
        result = await conn.request(
            "pay",
            ref="R1",
            biller="UPPCL",
            account=ACCOUNT,
            amount_paise=bill["amount_paise"],
            mobile="9876543210",
        )
    assert result["status"] == "success"
    receipt = result["receipt"]
    assert receipt["ref"] == "R1" and receipt["amount_paise"] == bill["amount_paise"]
    assert receipt["biller_txn"] and receipt["txn"] == result["txn"]
    assert await wallet(switch, terminals[0]) == 10_000_00 - bill["amount_paise"]
    biller = await switch.ledger.account_by_code("biller:UPPCL")
    assert biller.balance_paise == bill["amount_paise"]


async def test_the_same_pay_sent_twice_and_concurrently_debits_once(
    switch: RunningSwitch, terminals: list[Credentials], database_url: str
) -> None:
    fields = {"ref": "DUP-1", "biller": "UPPCL", "account": ACCOUNT, "amount_paise": 250_00}
    answers: list[dict] = []
    async with connect(terminals[0]) as conn:
        async with trio.open_nursery() as nursery:
            for _ in range(6):  # under max_in_flight
                nursery.start_soon(lambda: _append(answers, conn.request("pay", **fields)))
        again = await conn.request("pay", **fields)
        other = await conn.request("pay", **{**fields, "amount_paise": 251_00})
    assert all("txn" in a for a in answers), answers
    assert {a["txn"] for a in [*answers, again]} == {again["txn"]}, answers
    assert all(a["status"] == "success" for a in [*answers, again])
    assert other["code"] == "reference_reused"
    assert await wallet(switch, terminals[0]) == 10_000_00 - 250_00
    assert scalar(database_url, "SELECT count(*) FROM pays WHERE terminal_ref = 'DUP-1'") == 1
    key = pay_key(terminals[0].terminal_id, "DUP-1")
    assert scalar(database_url, "SELECT count(*) FROM transfers WHERE idem_key = $1", key) == 1


async def _append(out: list[dict], coro) -> None:  # type: ignore[no-untyped-def]
    out.append(await coro)


async def test_insufficient_funds_fails_and_debits_nothing(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0]) as conn:
        result = await conn.request(
            "pay", ref="BIG", biller="UPPCL", account=ACCOUNT, amount_paise=10_000_01
        )
    assert (result["status"], result["code"]) == ("failed", "insufficient_funds")
    assert await wallet(switch, terminals[0]) == 10_000_00


async def test_a_rejected_pay_refunds_the_wallet(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    async with connect(terminals[0]) as conn:
        result = await conn.request(
            "pay", ref="REJ", biller="UPPCL", account="1234567899", amount_paise=500_00
        )
        status = await conn.request("status", ref="REJ")
    # The switch's own code, the biller's beside it (never in its place).
    assert (result["status"], result["code"]) == ("failed", "biller_rejected")
    assert result["biller_code"] == "account_disconnected"
    assert status["status"] == "failed"
    assert await wallet(switch, terminals[0]) == 10_000_00
    assert (await switch.ledger.account_by_code("biller:UPPCL")).balance_paise == 0


async def test_list_and_summary_show_only_the_agents_own_pays(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    today = (
        dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).date()
    )
    span = {"from": (today - dt.timedelta(days=1)).isoformat(), "to": today.isoformat()}
    async with connect(terminals[0]) as mine, connect(terminals[1]) as theirs:
        for i in range(3):
            await mine.request(
                "pay", ref=f"M{i}", biller="UPPCL", account=ACCOUNT, amount_paise=100_00
            )
        await mine.request(
            "pay", ref="MX", biller="UPPCL", account="1234567899", amount_paise=100_00
        )
        await theirs.request("pay", ref="T0", biller="UPPCL", account=ACCOUNT, amount_paise=100_00)
        page1 = await mine.request("list_payments", **span, limit=2)
        page2 = await mine.request("list_payments", **span, limit=2, after=page1["next_after"])
        summary = await mine.request("summary", **span)
        bad = await mine.request("summary", **{"from": span["to"], "to": span["from"]})
    refs = [p["ref"] for p in [*page1["items"], *page2["items"]]]
    assert refs == ["M0", "M1", "M2", "MX"] and page2["next_after"] is None
    assert summary["count"] == 4 and summary["paid_count"] == 3
    assert summary["paid_amount_paise"] == 300_00
    assert summary["by_state"]["voided"]["count"] == 1
    assert bad["code"] == "invalid_request"


async def test_more_in_flight_than_allowed_is_refused_at_once(
    switch_config: Config, database_url: str
) -> None:
    cfg = with_terminals(switch_config, max_in_flight=1)
    async with running_switch(cfg, database_url) as sw:
        creds = await one_terminal(sw, 1000_00)
        answers: list[dict] = []
        async with connect(creds) as conn, trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(
                    _append,
                    answers,
                    conn.request("fetch_bill", biller="UPPCL", account=f"12345678{i:02d}"),
                )
    codes = [a.get("code") for a in answers]
    assert "too_many_in_flight" in codes and None in codes


async def test_the_rate_limit_answers_rate_limited(
    switch_config: Config, database_url: str
) -> None:
    cfg = with_terminals(switch_config, rate_per_s=1.0, rate_burst=3)
    async with running_switch(cfg, database_url) as sw:
        [creds] = await provision_fleet(
            sw.db, sw.ledger, public_bytes(sw.deps.identity), f"127.0.0.1:{sw.port}", agents=1
        )
        async with connect(creds) as conn:
            answers = [
                await conn.request("fetch_bill", biller="UPPCL", account=ACCOUNT) for _ in range(5)
            ]
    assert [a.get("code") for a in answers] == [None, None, None, "rate_limited", "rate_limited"]


async def test_shutdown_tells_connected_terminals(switch_config: Config, database_url: str) -> None:
    told: list[str] = []

    async def terminal(creds: Credentials, connected: trio.Event) -> None:
        async with connect(creds) as conn:
            connected.set()
            with trio.fail_after(10):
                while conn.lost is None:  # noqa: ASYNC110 (the read loop sets it)
                    await trio.sleep(0.01)
            told.append(conn.lost.code)

    # The terminal's task lives in a nursery that outlives the switch.
    async with trio.open_nursery() as outside, running_switch(switch_config, database_url) as sw:
        [creds] = await provision_fleet(
            sw.db, sw.ledger, public_bytes(sw.deps.identity), f"127.0.0.1:{sw.port}", agents=1
        )
        connected = trio.Event()
        outside.start_soon(terminal, creds, connected)
        await connected.wait()
    assert told == ["shutting_down"]


async def test_driving_a_stale_copy_of_a_pay_finds_the_truth(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    """A retry that read the pay before another driver finished it must not fail
    (or move anything twice): it reloads and returns the final outcome."""
    from switch.pays.flow import PayFlow
    from switch.pays.store import NewPay, PayStore

    store = PayStore(switch.db)
    flow = PayFlow(store, switch.ledger, 60)
    creds = terminals[0]
    wallet_id = await switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    stale, created = await store.claim(
        NewPay(creds.terminal_id, "STALE", creds.agent_id, "UPPCL", ACCOUNT, 100_00)
    )
    assert created
    done = await flow.drive(stale, switch.billers["UPPCL"], wallet_id)
    again = await flow.drive(stale, switch.billers["UPPCL"], wallet_id)
    assert done.state == again.state == "posted" and again.biller_txn_id == done.biller_txn_id
    assert await switch.ledger.balance(wallet_id) == 10_000_00 - 100_00


async def test_an_error_of_a_drive_that_outlived_its_caller_is_logged(
    switch: RunningSwitch,
    terminals: list[Credentials],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The terminal heard "pending" and went; the drive failed later: the failure is
    logged (nobody else will see it). One the caller waited for is raised to it."""
    from switch.pays.store import NewPay, PayStore

    flow = switch.deps.service._flow
    creds = terminals[0]
    pay, _ = await PayStore(switch.db).claim(
        NewPay(creds.terminal_id, "LATE", creds.agent_id, "UPPCL", ACCOUNT, 100_00)
    )

    async def failing(*args: object, **kwargs: object) -> None:
        await trio.sleep(0.3)
        raise RuntimeError("the biller's connector broke")

    monkeypatch.setattr(flow, "drive", failing)
    answered = await flow.drive_detached(pay, switch.billers["UPPCL"], 1, answer_within_s=0.05)
    assert answered is pay  # not final: the terminal is told "pending"
    with trio.fail_after(5):
        while "driving the pay failed" not in caplog.text:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert "the biller's connector broke" in caplog.text
    with pytest.raises(RuntimeError, match="connector broke"):
        await flow.drive_detached(pay, switch.billers["UPPCL"], 1, answer_within_s=5)


async def test_closing_on_a_terminal_that_stopped_reading_gives_up(switch: RunningSwitch) -> None:
    """The parting error frame is best effort: a terminal that reads nothing (its
    socket buffer full) cannot hold the session, or the switch's stop, open."""
    from switch.actors.terminal import TerminalSession
    from switch.protocols.terminal.errors import ErrorCode

    ours, never_read = trio.testing.lockstep_stream_pair()
    session = TerminalSession(ours, switch.deps)
    hung: list[bool] = []

    async def watchdog() -> None:  # a shielded hang ignores timeouts: end it from outside
        await trio.sleep(5)
        hung.append(True)
        await never_read.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watchdog)
        started = trio.current_time()
        await session._close_with(ErrorCode.SHUTTING_DOWN, "")
        took_s = trio.current_time() - started
        nursery.cancel_scope.cancel()
    assert not hung and took_s < 2
