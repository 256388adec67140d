"""The embedded PostgreSQL's standby as an operator runs it: ``switch db standby``
makes a synchronous streaming copy; writes go to the primary and are on the standby;
``switch db promote`` switches over and marks the old primary superseded, so that it
is never started again as a second primary; ``switch db standby`` then rebuilds it as
the new primary's standby. ``switch db status`` shows roles and replication lag."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from switch.cli import cli as switch_cli
from switch.config import ServicesConfig
from switch.services import ServiceError, postgres, standby
from tests.helpers import primary_with_standby


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[ServicesConfig]:
    """A primary of this test's own, with a synchronous standby."""
    with primary_with_standby(tmp_path / "data") as cfg:
        yield cfg


def sql(url: str, query: str) -> object:
    async def go() -> object:
        conn = await asyncpg.connect(url)
        try:
            if ";" in query:  # several statements: no result wanted
                return await conn.execute(query)
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(go())


def on_node(cfg: ServicesConfig, name: str) -> str:
    return postgres.node_url(postgres.node_paths(cfg, name), cfg.database_name)


def eventually(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def cli(cfg: ServicesConfig, *args: str) -> str:
    env = {"SWITCH_DATA_DIR": cfg.data_dir, "SWITCH_CONFIG": os.devnull}
    result = CliRunner().invoke(switch_cli, ["db", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_write_on_the_primary_is_on_the_synchronous_standby(pair: ServicesConfig) -> None:
    url = postgres.url(pair)
    assert "target_session_attrs=read-write" in url  # both servers, the writable one
    sql(url, "CREATE TABLE paid (amount_paise bigint); INSERT INTO paid VALUES (12345)")
    replica = on_node(pair, "postgres-2")
    eventually(lambda: sql(replica, "SELECT to_regclass('paid') IS NOT NULL"))
    eventually(lambda: sql(replica, "SELECT sum(amount_paise) FROM paid") == 12345)
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        sql(replica, "INSERT INTO paid VALUES (1)")  # a standby takes no writes
    status = json.loads(cli(pair, "status", "--json"))["postgres"]
    roles = {s["name"]: s["role"] for s in status["servers"]}
    assert roles == {"postgres": "primary", "postgres-2": "standby"}
    (seen,) = next(s for s in status["servers"] if s["role"] == "primary")["standbys"]
    assert seen["state"] == "streaming" and seen["sync_state"] == "sync"
    assert seen["lag_bytes"] >= 0
    assert "standby postgres_2: streaming, sync" in cli(pair, "status")


def test_promotion_supersedes_the_old_primary_and_a_new_standby_is_built_from_it(
    pair: ServicesConfig,
) -> None:
    url = postgres.url(pair)  # a client's URL from before the switchover
    sql(url, "CREATE TABLE paid (amount_paise bigint); INSERT INTO paid VALUES (100)")
    out = cli(pair, "promote")
    assert "postgres-2 is the primary now" in out
    old = postgres.node_paths(pair, "postgres")
    assert old.superseded and postgres.running_pid(pair, old) is None
    # The old URL finds the new primary by itself; what was committed is there.
    sql(url, "INSERT INTO paid VALUES (200)")
    assert sql(url, "SELECT sum(amount_paise) FROM paid") == 300
    assert sql(url, "SELECT pg_is_in_recovery()") is False
    # Starting everything again never brings the superseded primary back.
    postgres.stop(pair)
    postgres.start(pair)
    assert postgres.running_pid(pair, old) is None
    assert postgres.paths(pair).name == "postgres-2"
    # A new standby is the old directory, rebuilt from the new primary.
    assert "postgres: synchronous standby, streaming" in cli(pair, "standby")
    assert not old.superseded and old.is_standby
    eventually(lambda: sql(on_node(pair, "postgres"), "SELECT sum(amount_paise) FROM paid") == 300)


def test_promote_without_a_standby_says_so(tmp_path: Path) -> None:
    cfg = ServicesConfig(data_dir=str(tmp_path / "data"))
    postgres.start(cfg)
    try:
        with pytest.raises(ServiceError, match="no standby to promote"):
            standby.promote(cfg)
        assert postgres.running_pid(cfg) is not None  # and the primary was left alone
    finally:
        postgres.stop(cfg)


def test_two_primaries_are_refused(pair: ServicesConfig) -> None:
    """A standby promoted behind the switch's back (pg_ctl by hand) while the old
    primary still has no SUPERSEDED mark: two servers would take writes."""
    (postgres.node_paths(pair, "postgres-2").pgdata / "standby.signal").unlink()
    with pytest.raises(ServiceError, match="two primaries"):
        postgres.paths(pair)
