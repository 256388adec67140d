"""One Redis client on the database's asyncio loop, with keys namespaced per database.

Redis keeps counters that several switch processes share (the per-day wallet limit,
sign-in windows); PostgreSQL stays the book of record. Keys are prefixed with the
database's name and oid, so tests' and demos' fresh databases on one Redis never
share a counter with an earlier database of the same name.

The URL names a single Redis (``redis://``, ``unix://``) or a Redis Cluster
(``redis+cluster://host:port[,host:port...]``: any of its masters; the client learns
the rest from them). In a cluster a script may only touch keys of one hash slot, so
every key carries a hash tag (``{...}``: only that part decides the slot) of what it
belongs to, an agent or a user, and callers group a batch's keys by ``key_slot``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
import trio
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, RedisError

from switch.db.bridge import AsyncioBridge
from switch.db.database import Database

CLUSTER_SCHEME = "redis+cluster://"
T = TypeVar("T")
# A dead master is retried this often before the call fails (the caller then falls
# back to PostgreSQL); redis-py's default, 10, would outlast every caller's deadline.
CLUSTER_RETRY_ATTEMPTS = 2
# Connections to one Redis, at most: a call beyond them waits for one (up to the
# call's timeout) instead of failing, as redis-py's plain pool does past its hundred:
# a pay run of 128 bills at once sent every day-limit check to PostgreSQL that way.
MAX_CONNECTIONS = 64
# What a failing Redis raises: its own errors, a cluster's (a slot no master serves
# is not a RedisError in redis-py), and the socket's. Callers fall back on these.
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)


class RedisBroken(RedisError):
    """The client failed in a way redis-py does not name: its cluster client, with a
    master killed under concurrent calls, raises AttributeError or RuntimeError from a
    connection closed beneath it. Still a failure of Redis: fall back, never crash."""


async def guarded(call: Awaitable[T]) -> T:
    """Await a Redis call (on the asyncio side); any failure is a ``REDIS_FAILURES``."""
    try:
        return await call
    except REDIS_FAILURES:
        raise
    except Exception as exc:
        raise RedisBroken(repr(exc)) from exc


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The masters listed in a ``redis+cluster://`` URL."""
    assert is_cluster(url)
    listed = url[len(CLUSTER_SCHEME) :].split("/")[0]
    nodes = []
    for address in listed.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: each node must be host:port")
        nodes.append((host, int(port)))
    return nodes


def tagged(namespace: str, tag: str, rest: str) -> str:
    """A key whose hash slot is decided by ``tag`` alone."""
    return f"{namespace}:{{{tag}}}:{rest}"


def by_slot(keys: Sequence[str]) -> list[list[int]]:
    """The indexes of ``keys``, grouped by hash slot (in the order first seen)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key_slot(key.encode())].append(i)
    return list(groups.values())


class RedisCalls:
    """Calls to one Redis client from trio: each under a deadline, any failure one of
    ``REDIS_FAILURES``. On a cluster client, one call at a time: redis-py's cluster
    client (8.1) fails calls at random (AttributeError, "connection lost") when
    several tasks open connections to one node at once, seen here as a burst of 40
    sign-in attempts where 5 were due. The deadline covers the wait for the turn too:
    calls queued behind one to a dead master must not wait out its timeout one after
    another."""

    def __init__(self, bridge: AsyncioBridge, client: Any, cluster: bool) -> None:
        self._bridge = bridge
        self.client = client
        self.cluster = cluster
        self._turn = trio.Lock()

    async def __call__(self, make: Callable[[Any], Awaitable[T]], timeout_s: float) -> T:
        """``make(client)`` awaited on the asyncio side, within ``timeout_s``."""
        with trio.fail_after(timeout_s):
            if not self.cluster:
                return await self._bridge.run(guarded(make(self.client)))
            async with self._turn:
                return await self._bridge.run(guarded(make(self.client)))

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await self._bridge.run(self.client.aclose())


async def open_redis(
    db: Database, url: str, prefix: str, timeout_s: float
) -> tuple[RedisCalls, str]:
    """A client whose calls give up after ``timeout_s``, and the key namespace
    ``prefix:<database>:<oid>`` for this database."""
    row = await db.fetchrow(
        "SELECT datname, oid FROM pg_database WHERE datname = current_database()"
    )
    assert row is not None

    async def connect() -> Any:
        if is_cluster(url):
            return RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in cluster_nodes(url)],
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), CLUSTER_RETRY_ATTEMPTS),
                # A master that is down leaves only its own slots unserved.
                require_full_coverage=False,
            )
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        return aioredis.Redis.from_pool(pool)  # the client owns the pool: closed with it

    client = await db.bridge.run(connect())
    return RedisCalls(db.bridge, client, is_cluster(url)), f"{prefix}:{row['datname']}:{row['oid']}"


async def eval_per_slot(
    client: Any, script: str, calls: Sequence[tuple[list[str], list[Any]]]
) -> list[Any]:
    """On the asyncio side, on a cluster client: one EVAL per (keys, args) call, each
    call's keys in one slot, all in one pipeline (one round trip per master). Each
    call's answer, or its exception (a master that is down fails its calls only)."""
    pipe = client.pipeline()
    for keys, args in calls:
        pipe.eval(script, len(keys), *keys, *args)
    answers: list[Any] = await pipe.execute(raise_on_error=False)
    return answers
