"""Reports and searches on the standby (``[services] replica_url``): they see what the
standby has replayed, the pay's own page sees the primary, and with the standby gone
they are answered from the primary, never refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from switch.config import Config, ServicesConfig
from switch.server import running_switch
from switch.services import ServiceError, postgres
from tests.admin.conftest import Admin, admin_of
from tests.admin.test_wallets_complaints import funded_terminal, pay
from tests.helpers import primary_with_standby


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[ServicesConfig]:
    """A migrated primary of this test's own, with a synchronous standby."""
    with primary_with_standby(tmp_path / "data", migrated=True) as cfg:
        yield cfg


async def standby_sql(cfg: ServicesConfig, sql: str) -> None:
    node = postgres.node_paths(cfg, "postgres-2")
    await trio.to_thread.run_sync(lambda: postgres.psql(cfg, sql, cfg.database_name, node))


async def found(a: Admin, agent: str) -> list[int]:
    r = await a.call("support", "GET", "/v1/transactions", params={"agent_id": agent})
    assert r.status_code == 200, r.text
    return [t["txn_id"] for t in r.json()["items"]]


async def eventually(check: Any, timeout_s: float = 10.0) -> None:
    with trio.fail_after(timeout_s):
        while not await check():  # noqa: ASYNC110 (polls the database)
            await trio.sleep(0.05)


async def test_searches_read_the_standby_and_fall_back_to_the_primary(
    pair: ServicesConfig, switch_config: Config
) -> None:
    standby_url = postgres.node_url(postgres.node_paths(pair, "postgres-2"), pair.database_name)
    services = dataclasses.replace(switch_config.services, replica_url=standby_url)
    cfg = switch_config.replace(services=services)
    async with running_switch(cfg, postgres.url(pair), None) as sw, admin_of(sw, cfg) as a:
        agent, creds = await funded_terminal(a)
        first = (await pay(creds, "R1", 100_00))["txn"]
        await eventually(lambda: _has(a, agent, first))
        # The standby stops replaying: a new pay is committed (on its disk too) but
        # not visible there. The search, on the standby, does not see it yet; the
        # pay's own page, on the primary, does.
        await standby_sql(pair, "SELECT pg_wal_replay_pause()")
        second = (await pay(creds, "R2", 100_00))["txn"]
        await trio.sleep(0.3)
        assert await found(a, agent) == [first]
        r = await a.call("support", "GET", f"/v1/transactions/{second}")
        assert r.status_code == 200 and r.json()["state"] == "posted"
        await standby_sql(pair, "SELECT pg_wal_replay_resume()")
        await eventually(lambda: _has(a, agent, second))
        # The standby gone: searches and reports are answered from the primary.
        postgres.stop_node(pair, postgres.node_paths(pair, "postgres-2"))
        await standby_sql_fails(pair)
        third = (await _pay_without_the_standby(pair, creds))["txn"]
        assert await found(a, agent) == [third, second, first]
        r = await a.call("finance", "GET", "/v1/reports/totals", params={"by": "agent"})
        assert r.status_code == 200, r.text


async def _has(a: Admin, agent: str, txn: int) -> bool:
    return txn in await found(a, agent)


async def standby_sql_fails(cfg: ServicesConfig) -> None:
    with pytest.raises(ServiceError):
        await standby_sql(cfg, "SELECT 1")


async def _pay_without_the_standby(cfg: ServicesConfig, creds: Any) -> dict[str, Any]:
    """A synchronous primary waits for its standby: with the standby stopped for
    good, it is told not to (``switch db standby --async`` does the same)."""
    await trio.to_thread.run_sync(
        postgres.psql, cfg, "ALTER SYSTEM SET synchronous_standby_names = ''"
    )
    await trio.to_thread.run_sync(postgres.psql, cfg, "SELECT pg_reload_conf()")
    return await pay(creds, "R3", 100_00)
