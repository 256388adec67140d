"""The per-day wallet limit, for every agent, across processes: counted in Redis,
seeded from the pays of record, given back by voided pays, checked in PostgreSQL when
Redis is not there."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
import redis
import trio

from simulators.epos.connection import connect
from switch.config import Config, ServicesConfig
from switch.pays.dayspend import BREAKER_OPEN_S
from switch.protocols.terminal.crypto import public_bytes
from switch.provisioning.credentials import Credentials
from switch.provisioning.fleet import provision_fleet
from switch.server import RunningSwitch, running_switch
from switch.services import ServiceUrls
from switch.services import redis as redis_service
from tests.helpers import agent_with_terminals

DAY_LIMIT = 500_00  # the configured default: these agents have no limits of their own


@pytest.fixture
def switch_config(switch_config: Config) -> Config:
    admin = dataclasses.replace(switch_config.admin, default_per_day_paise=DAY_LIMIT)
    return switch_config.replace(admin=admin)


async def one_agent(sw: RunningSwitch, terminals: int) -> list[Credentials]:
    return await agent_with_terminals(sw, terminals, wallet_paise=10_000_00)


async def pay(creds: Credentials, ref: str, amount: int, account: str = "1234567890") -> str:
    async with connect(creds) as conn:
        result = await conn.request(
            "pay", ref=ref, biller="UPPCL", account=account, amount_paise=amount
        )
    return str(result.get("code") or result["status"])


async def spent(sw: RunningSwitch) -> int:
    return int(
        await sw.db.fetchval(
            "SELECT coalesce(sum(amount_paise), 0) FROM pays WHERE state = 'posted'"
        )
    )


async def test_terminals_paying_at_once_never_pass_the_day_limit(switch: RunningSwitch) -> None:
    terminals = await one_agent(switch, 5)
    answers: list[str] = []

    async def terminal(creds: Credentials) -> None:
        for n in range(4):
            answers.append(await pay(creds, f"{creds.terminal_id}-{n}", 100_00))

    async with trio.open_nursery() as nursery:
        for creds in terminals:
            nursery.start_soon(terminal, creds)
    assert sorted(answers).count("success") == DAY_LIMIT // 100_00
    assert answers.count("limit_exceeded") == 20 - DAY_LIMIT // 100_00
    assert await spent(switch) == DAY_LIMIT
    assert switch.policy.day_spend.stats.exact_checks == 0  # all counted in Redis


async def test_a_voided_pay_gives_its_amount_back(switch: RunningSwitch) -> None:
    [creds] = await one_agent(switch, 1)
    assert await pay(creds, "R1", 400_00, account="1234567899") != "success"  # the biller refuses
    with trio.fail_after(5):
        while switch.policy.day_spend.stats.given_back < 1:  # noqa: ASYNC110
            await trio.sleep(0.02)
    assert await pay(creds, "P1", 400_00) == "success"  # the refused 400 no longer counts
    assert await pay(creds, "P2", 100_00) == "success"
    assert await pay(creds, "P3", 100) == "limit_exceeded"  # the least pay, ₹1
    # A pay the limit refused never counted, so it gives nothing back either.
    assert switch.policy.day_spend.stats.given_back == 1


async def test_a_lost_counter_is_rebuilt_from_the_pays_of_record(
    switch: RunningSwitch, services: ServiceUrls
) -> None:
    [creds] = await one_agent(switch, 1)
    assert await pay(creds, "A1", 300_00) == "success"
    redis.Redis.from_url(services.redis_url).flushall()  # Redis restarted empty
    assert await pay(creds, "A2", 300_00) == "limit_exceeded"  # 300 + 300 > 500
    assert await pay(creds, "A3", 200_00) == "success"
    assert switch.policy.day_spend.stats.seeded >= 2


@pytest.mark.parametrize("redis_url", [None, "redis://127.0.0.1:1/0"], ids=["none", "down"])
async def test_without_redis_the_limit_is_checked_in_postgresql(
    switch_config: Config, database_url: str, redis_url: str | None
) -> None:
    async with running_switch(switch_config, database_url, redis_url) as sw:
        [creds] = await one_agent(sw, 1)
        assert await pay(creds, "B1", 400_00) == "success"
        assert await pay(creds, "B2", 200_00) == "limit_exceeded"
        assert await pay(creds, "B3", 100_00) == "success"
        stats = sw.policy.day_spend.stats
        assert stats.exact_checks == 3 and stats.admitted == 2 and stats.refused == 1
        assert (stats.redis_errors > 0) == (redis_url is not None)
        assert await sw.ledger.check_invariants() == []


async def test_a_frozen_redis_is_skipped_and_its_counters_rebuilt(
    switch: RunningSwitch, services_config: ServicesConfig
) -> None:
    """Redis alive but silent (SIGSTOP): pays go on against PostgreSQL without waiting
    on Redis pay after pay (one failure opens the breaker); when it answers again, the
    counter that missed those pays is rebuilt from the record, so the limit is exact."""
    [creds] = await one_agent(switch, 1)
    assert await pay(creds, "F0", 100_00) == "success"  # counted in Redis: 100
    pid = redis_service.running_pid(services_config)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        during = [await pay(creds, f"F{n}", 50_00) for n in range(1, 7)]  # 300 more
    finally:
        os.kill(pid, signal.SIGCONT)
    stats = switch.policy.day_spend.stats
    assert during == ["success"] * 6
    # Not one timeout per pay: the breaker sent them to PostgreSQL (a slow machine may
    # see it try Redis again once after its 2 s).
    assert 1 <= stats.breaker_opened <= stats.redis_errors <= 3
    await trio.sleep(BREAKER_OPEN_S + 0.2)  # the breaker tries Redis again
    assert await pay(creds, "F7", 100_00) == "success"  # 100 + 300 + 100 = the limit
    assert await pay(creds, "F8", 100) == "limit_exceeded"  # the rebuilt counter knew the 300
    assert stats.reseeds >= 1
    assert await spent(switch) == DAY_LIMIT


async def test_a_refusal_for_a_pay_recovery_cancelled_meanwhile_answers_its_outcome(
    switch: RunningSwitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admission that outlasted recovery's patience (Redis failing, say): recovery
    cancelled the pay meanwhile, then the limit refused it. The terminal hears the
    stored outcome, not internal_error."""
    (creds,) = await one_agent(switch, 1)

    async def slow_refusal(pay: object) -> str:
        await switch.db.execute(  # what recovery's expire records
            "UPDATE pays SET state = 'voided', error_code = 'expired' WHERE id = $1",
            pay.id,  # type: ignore[attr-defined]
        )
        return "limit_exceeded"

    monkeypatch.setattr(switch.policy, "refusal", slow_refusal)
    assert await pay(creds, "late-1", 100_00) == "expired"
    assert await pay(creds, "late-1", 100_00) == "expired"  # and a retry hears the same


async def test_in_a_redis_cluster_agents_in_many_slots_never_pass_their_limits(
    switch_config: Config, database_url: str, redis_cluster_url: str
) -> None:
    """Each agent's counter lives in its own hash slot (a tag per agent); a batch of
    admissions is one script call per slot. Concurrent pays of four agents, two
    terminals each, stop at each agent's limit exactly, all counted in Redis."""
    async with running_switch(switch_config, database_url, redis_cluster_url) as sw:
        fleet = await provision_fleet(
            sw.db, sw.ledger, public_bytes(sw.deps.identity), f"127.0.0.1:{sw.port}",
            agents=4, terminals_per_agent=2, wallet_paise=10_000_00,
        )  # fmt: skip
        answers: dict[str, list[str]] = {}

        async def terminal(creds: Credentials) -> None:
            for n in range(4):
                answer = await pay(creds, f"{creds.terminal_id}-{n}", 100_00)
                answers.setdefault(creds.agent_id, []).append(answer)

        async with trio.open_nursery() as nursery:
            for creds in fleet:
                nursery.start_soon(terminal, creds)
        assert len(answers) == 4
        for agent_answers in answers.values():
            assert agent_answers.count("success") == DAY_LIMIT // 100_00
            assert agent_answers.count("limit_exceeded") == 8 - DAY_LIMIT // 100_00
        assert await spent(sw) == 4 * DAY_LIMIT
        assert sw.policy.day_spend.stats.exact_checks == 0  # all counted in the cluster
        assert await sw.ledger.check_invariants() == []
