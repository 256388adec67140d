"""Sign-in windows: exact under bursts, sliding, shared by processes, and kept in
PostgreSQL when Redis is missing or cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from switch.admin.throttle import Attempt, Full, Throttle, Window
from switch.db.database import Database
from switch.services.manager import ServiceUrls

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@asynccontextmanager
async def throttle_on(database_url: str, redis_url: str | None) -> AsyncIterator[Throttle]:
    async with Database.open(database_url) as db, trio.open_nursery() as nursery:
        throttle = Throttle(db, redis_url)
        await nursery.start(throttle.run)
        yield throttle
        nursery.cancel_scope.cancel()


async def burst(throttle: Throttle, windows: list[Window], n: int) -> list[Attempt | Full]:
    results: list[Attempt | Full] = []

    async def one() -> None:
        results.append(await throttle.take(windows))

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)
    return results


@pytest.fixture(params=["redis", "redis cluster"])
def redis_url(request: pytest.FixtureRequest, services: ServiceUrls) -> str:
    """A single Redis, and a Redis Cluster (windows of one attempt in several slots)."""
    if request.param == "redis":
        return services.redis_url
    url: str = request.getfixturevalue("redis_cluster_url")
    return url


@pytest.mark.parametrize("store", ["redis", "redis cluster", "postgres", "redis unreachable"])
async def test_a_burst_takes_exactly_the_limit(
    store: str, database_url: str, services: ServiceUrls, request: pytest.FixtureRequest
) -> None:
    urls = {"redis": services.redis_url, "postgres": None, "redis unreachable": DEAD_REDIS}
    url = urls[store] if store in urls else request.getfixturevalue("redis_cluster_url")
    window = Window("ip", "10.0.0.1", limit=5, window_s=60)
    async with throttle_on(database_url, url) as throttle:
        results = await burst(throttle, [window], 40)
        taken = [r for r in results if isinstance(r, Attempt)]
        refused = [r for r in results if isinstance(r, Full)]
        assert len(taken) == 5 and len(refused) == 35
        assert all(1 <= r.retry_after_s <= 60 and r.window == window for r in refused)
        assert all(t.in_redis == (store in ("redis", "redis cluster")) for t in taken)
        # A success gives its attempt back: one more fits.
        await throttle.give_back(taken[0])
        assert isinstance(await throttle.take([window]), Attempt)
        assert isinstance(await throttle.take([window]), Full)


@pytest.mark.parametrize("redis", [True, False])
async def test_failures_leave_the_window_one_by_one(
    redis: bool, database_url: str, services: ServiceUrls
) -> None:
    window = Window("user", "asha", limit=2, window_s=2.0)
    async with throttle_on(database_url, services.redis_url if redis else None) as throttle:
        assert isinstance(await throttle.take([window]), Attempt)
        await trio.sleep(1.0)
        assert isinstance(await throttle.take([window]), Attempt)
        assert isinstance(await throttle.take([window]), Full)
        await trio.sleep(1.2)  # the first has left the window, the second not yet
        assert isinstance(await throttle.take([window]), Attempt)
        assert isinstance(await throttle.take([window]), Full)


async def test_a_full_window_takes_nothing_from_the_others(
    database_url: str, redis_url: str
) -> None:
    """An attempt refused by one window must not use up another's allowance (in a
    cluster: the windows of other slots, taken first, are given back)."""
    narrow = Window("user_ip", "asha|10.0.0.1", limit=1, window_s=60)
    wide = Window("user", "asha", limit=3, window_s=60)
    address = Window("ip", "10.0.0.1", limit=2, window_s=60)
    async with throttle_on(database_url, redis_url) as throttle:
        assert isinstance(await throttle.take([address, wide, narrow]), Attempt)
        for _ in range(5):  # the narrow window is full: the address's is given back
            assert isinstance(await throttle.take([address, wide, narrow]), Full)
        assert isinstance(await throttle.take([address]), Attempt)  # its second
        assert isinstance(await throttle.take([address]), Full)
        other = Window("user_ip", "asha|10.0.0.2", limit=1, window_s=60)
        assert isinstance(await throttle.take([wide, other]), Attempt)
        assert isinstance(await throttle.take([wide]), Attempt)
        refused = await throttle.take([wide])
        assert isinstance(refused, Full) and refused.window == wide


async def test_two_processes_share_one_window(database_url: str, services: ServiceUrls) -> None:
    window = Window("ip", "10.0.0.9", limit=6, window_s=60)
    async with (
        throttle_on(database_url, services.redis_url) as one,
        throttle_on(database_url, services.redis_url) as two,
    ):
        results: list[Attempt | Full] = []

        async def from_process(throttle: Throttle) -> None:
            results.extend(await burst(throttle, [window], 10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(from_process, one)
            nursery.start_soon(from_process, two)
        # A Redis failure would move one process's count to PostgreSQL, unshared.
        assert (one.stats.redis_errors, two.stats.redis_errors) == (0, 0)
        assert sum(isinstance(r, Attempt) for r in results) == 6


async def test_a_reset_empties_the_windows_in_both_stores(
    database_url: str, services: ServiceUrls
) -> None:
    window = Window("user", "mira", limit=1, window_s=60)
    async with (
        throttle_on(database_url, services.redis_url) as with_redis,
        throttle_on(database_url, None) as without,
    ):
        assert isinstance(await with_redis.take([window]), Attempt)
        assert isinstance(await without.take([window]), Attempt)
        await with_redis.clear([window])
        assert isinstance(await with_redis.take([window]), Attempt)
        assert isinstance(await without.take([window]), Attempt)
