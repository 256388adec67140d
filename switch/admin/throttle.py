"""Sliding windows of sign-in attempts: how many failures one address, one user, or one
user from one address may have in a window, across every switch process.

An attempt is *taken* before its password (or reset code) is checked, atomically for
all its windows: a burst of concurrent guesses gets exactly each window's limit
checked, never more. A success gives its attempt back, so only failures fill a window;
each failure leaves its window ``window_s`` after it was made (a sliding window, not
a fixed bucket that empties all at once on the minute).

The windows live in Redis (a sorted set per key, scored by the attempt's time in
milliseconds, changed by one Lua script, so taking from several windows is one atomic
step; in a Redis Cluster, one step per hash slot: an address's window, then its user's
two). Without Redis, or while it fails, they live in PostgreSQL (``auth_windows``,
one row per attempt, serialised per key by an advisory lock). The two stores do not
share their counts: a process that falls back starts from what PostgreSQL holds, so
during a Redis outage an attacker gets at most one more window's allowance.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from switch.db import Connection
from switch.db.database import Database
from switch.db.redis_link import (
    REDIS_FAILURES,
    RedisCalls,
    by_slot,
    open_redis,
    tagged,
)

_FAILURES: tuple[type[Exception], ...] = (*REDIS_FAILURES, trio.TooSlowError)
log = logging.getLogger("switch.admin")
# A sign-in can wait a second for Redis; a shorter socket timeout turned a busy
# machine's pause into a fallback to PostgreSQL, whose counts Redis does not share.
REDIS_TIMEOUT_S = 1.0
BREAKER_OPEN_S = 2.0
MAX_KEY_CHARS = 300
MAX_WINDOW_S = 86_400.0  # PostgreSQL's rows older than a day are pruned
PRUNE_ONE_IN = 64

# KEYS: the windows. ARGV[1]: this attempt's member; then for each key its window
# (ms) and limit. The time is Redis's own (TIME), the same for every process and
# never behind an attempt already in a window. Answer {0, 0}: taken from every
# window; {i, wait_ms}: window i is full (nothing taken from any), its oldest failure
# leaves it in wait_ms.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[2 * i]), tonumber(ARGV[1 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, tonumber(oldest[2]) + window - now}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i]))
end
return {0, 0}
"""


@dataclass(frozen=True)
class Window:
    """At most ``limit`` failures under ``key`` in any ``window_s``."""

    scope: str  # what the key counts: "ip", "user", "user_ip" ("user|ip")
    key: str
    limit: int
    window_s: float

    @property
    def tag(self) -> str:
        """What decides the window's hash slot in a Redis Cluster: the user for a
        user's windows (both in one slot), the address for an address's."""
        return self.key.split("|", 1)[0] if self.scope == "user_ip" else self.key


@dataclass(frozen=True)
class Full:
    """An attempt refused unchecked: ``window`` is full for ``retry_after_s`` more."""

    window: Window
    retry_after_s: int


@dataclass(frozen=True)
class Attempt:
    """An attempt taken from its windows: give it back if it succeeds."""

    windows: tuple[Window, ...]
    member: str
    in_redis: bool


@dataclass
class ThrottleStats:
    taken: int = 0
    refused: int = 0
    given_back: int = 0
    in_postgres: int = 0  # attempts counted in PostgreSQL (no Redis, or Redis failing)
    redis_errors: int = 0


class Throttle:
    def __init__(self, db: Database, redis_url: str | None) -> None:
        self._db = db
        self._url = redis_url
        self._redis: RedisCalls | None = None
        self._take_script: Any = None
        self._cluster = False
        self._namespace = ""
        self._open_until = float("-inf")  # the breaker: no Redis call before this
        self.stats = ThrottleStats()

    def statistics(self) -> ThrottleStats:
        return self.stats

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect to Redis (if a URL is set); close the client when cancelled."""
        if self._url:
            self._redis, self._namespace = await open_redis(
                self._db, self._url, "auth", REDIS_TIMEOUT_S
            )
            self._take_script = self._redis.client.register_script(_TAKE)
            self._cluster = self._redis.cluster
            await self._warm_up()
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            if self._redis is not None:
                await self._redis.aclose()

    async def _warm_up(self) -> None:
        """Connect and load the script now, so that the first burst of sign-ins does
        not pay for both inside its deadline. A Redis that fails here opens the
        breaker like any other failure."""
        if self._cluster:
            return  # the script is loaded per master on first use
        script = self._take_script
        await self._redis_call(lambda r: r.script_load(script.script))

    async def take(self, windows: Sequence[Window]) -> Attempt | Full:
        """One attempt from every window, or the first full one (nothing taken)."""
        assert windows and all(w.limit >= 1 and 0 < w.window_s <= MAX_WINDOW_S for w in windows)
        member = secrets.token_hex(8)
        result: Attempt | Full | None = None
        if self._usable():
            try:
                result = await self._take_redis(windows, member)
            except _FAILURES as exc:
                self._failed(exc)
        if result is None:
            self.stats.in_postgres += 1
            result = await self._db.run(lambda c: self._take_pg(c, windows, member))
        if isinstance(result, Full):
            self.stats.refused += 1
        else:
            self.stats.taken += 1
        return result

    async def give_back(self, attempt: Attempt) -> None:
        """The attempt succeeded: it no longer counts against its windows."""
        self.stats.given_back += 1
        if attempt.in_redis:
            redis_keys = [self._redis_key(w) for w in attempt.windows]
            if await self._redis_call(lambda r: _zrem_all(r, redis_keys, attempt.member)):
                return
        keys = [self._key(w) for w in attempt.windows]
        await self._db.execute(
            "DELETE FROM auth_windows WHERE key = ANY($1::text[]) AND member = $2",
            keys,
            attempt.member,
        )

    async def clear(self, windows: Sequence[Window]) -> None:
        """Empty these windows (a password reset unlocks its user), in both stores."""
        if self._usable():
            redis_keys = [self._redis_key(w) for w in windows]
            await self._redis_call(lambda r: r.delete(*redis_keys))
        keys = [self._key(w) for w in windows]
        await self._db.execute("DELETE FROM auth_windows WHERE key = ANY($1::text[])", keys)

    def _key(self, window: Window) -> str:
        """The window's key in PostgreSQL (each database its own table)."""
        return f"{window.scope}:{window.key[:MAX_KEY_CHARS]}"

    def _redis_key(self, window: Window) -> str:
        """The window's key in Redis (shared by databases: namespaced)."""
        return tagged(self._namespace, window.tag[:MAX_KEY_CHARS], self._key(window))

    def _usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._open_until

    def _failed(self, exc: BaseException) -> None:
        self.stats.redis_errors += 1
        if time.monotonic() >= self._open_until:
            log.warning("sign-in windows kept in PostgreSQL: Redis failed: %r", exc)
        self._open_until = time.monotonic() + BREAKER_OPEN_S

    async def _redis_call(self, make: Callable[[Any], Awaitable[Any]]) -> bool:
        assert self._redis is not None
        try:
            await self._redis(make, REDIS_TIMEOUT_S)
            return True
        except _FAILURES as exc:
            self._failed(exc)
            return False

    async def _take_redis(self, windows: Sequence[Window], member: str) -> Attempt | Full:
        """One script call for all the windows; in a Redis Cluster one per hash slot
        (an address's window, then its user's), each atomic. A slot that is full
        gives back what the slots before it took, so nothing stays taken; meanwhile
        a concurrent attempt may see one failure too many (stricter, never looser)."""
        keys = [self._redis_key(w) for w in windows]
        groups = by_slot(keys) if self._cluster else [list(range(len(windows)))]
        taken: list[str] = []
        for group in groups:
            args: list[Any] = [member]
            for i in group:
                args += [max(1, int(windows[i].window_s * 1000)), windows[i].limit]
            group_keys = [keys[i] for i in group]
            assert self._redis is not None
            taking = _script_call(self._take_script, group_keys, args)
            index, wait_ms = await self._redis(taking, REDIS_TIMEOUT_S)
            if int(index) != 0:
                if taken:
                    await self._redis_call(_zrem_call(taken, member))
                window = windows[group[int(index) - 1]]
                return Full(window, _wait_s(int(wait_ms) / 1000, window))
            taken += [keys[i] for i in group]
        return Attempt(tuple(windows), member, in_redis=True)

    async def _take_pg(
        self, conn: Connection, windows: Sequence[Window], member: str
    ) -> Attempt | Full:
        keys = [self._key(w) for w in windows]
        async with conn.transaction():
            # Sorted: two attempts over the same keys lock them in one order.
            for key in sorted(set(keys)):
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key)
            for w, key in zip(windows, keys, strict=True):
                row = await conn.fetchrow(
                    """WITH gone AS (DELETE FROM auth_windows WHERE key = $1
                                       AND at <= clock_timestamp() - make_interval(secs => $2))
                       SELECT count(*) AS n,
                              extract(epoch FROM min(at) + make_interval(secs => $2)
                                                 - clock_timestamp()) AS wait_s
                         FROM auth_windows WHERE key = $1
                          AND at > clock_timestamp() - make_interval(secs => $2)""",
                    key,
                    w.window_s,
                )
                assert row is not None
                if row["n"] >= w.limit:
                    return Full(w, _wait_s(float(row["wait_s"] or 1), w))
            await conn.executemany(
                "INSERT INTO auth_windows (key, member) VALUES ($1, $2)",
                [(key, member) for key in keys],
            )
            if secrets.randbelow(PRUNE_ONE_IN) == 0:  # keys nobody touches again
                await conn.execute(
                    "DELETE FROM auth_windows WHERE at < clock_timestamp() - interval '1 day'"
                )
        return Attempt(tuple(windows), member, in_redis=False)


def _wait_s(seconds: float, window: Window) -> int:
    """Whole seconds until the window has room again: 1 to the window's length."""
    return min(max(1, math.ceil(seconds)), max(1, math.ceil(window.window_s)))


def _script_call(script: Any, keys: list[str], args: list[Any]) -> Callable[[Any], Any]:
    return lambda _client: script(keys=keys, args=args)


def _zrem_call(keys: list[str], member: str) -> Callable[[Any], Awaitable[None]]:
    return lambda client: _zrem_all(client, keys, member)


async def _zrem_all(client: Any, keys: list[str], member: str) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zrem(key, member)
        await pipe.execute()
