"""What each agent has spent today (IST calendar day), counted across every switch
process: the per-day wallet limit's counter.

A counter per agent and day lives in Redis (Redis keeps cross-process counters;
it is never the book of record). Admitting a pay adds its amount only if the
total stays within the limit, atomically (a Lua script), so concurrent pays from an
agent's several terminals, on any process, can never pass the limit together. A pay
voided after it was admitted gives its amount back. The book of record stays
PostgreSQL: a counter that is missing (a new day, Redis flushed or restarted) is
seeded from the day's pays, and when Redis cannot be reached the limit is checked
against PostgreSQL directly (exact for that pay, a query per pay).

A counter is seeded with the day's pays that have been admitted (neither voided
nor still 'received'); pays being admitted meanwhile add themselves, so a new day's
counter is exact however many terminals pay at once. Where it can drift (each needs a
crash or a Redis failure at a given instant): a pay admitted just before Redis lost
its counters and not yet past 'received' is left out of the new seed (the limit is
looser by that pay, that day); a pay claimed but never admitted because its process
died, voided later by recovery, gives back what it never added (the same); a
give-back lost to a Redis outage keeps its amount counted (stricter). Keys expire
two days after their day began.

Admissions and give-backs cross to Redis once per batch (switch/db/batch.py), as one
script call for the whole batch, not once per pay. In a Redis Cluster a script may
only touch one hash slot: each counter's key is tagged with its agent (all of an
agent's days in one slot), and a batch is one call per slot, all sent at once. A
master that is down fails only the calls for its slots: those pays are checked in
PostgreSQL, the rest in Redis.

A Redis that fails -- dead, or alive and silent (a frozen process answers nothing and
every call would wait its timeout) -- opens a breaker: for ``BREAKER_OPEN_S`` every
admission goes straight to PostgreSQL without trying Redis, then one batch tries it
again. Calls to Redis have a short timeout (``REDIS_TIMEOUT_S``; a healthy one
answers a batch in milliseconds). The counters a process could not keep while Redis
was failing -- agents it admitted in PostgreSQL, give-backs it could not send -- are
wrong once Redis answers again, so the first admission after the outage deletes them
(before it counts anything) and they are seeded again from the pays of record. A
counter kept by another process while this one fell back misses this one's pays of
that time until the day ends (looser by them).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from switch.db.batch import Batcher, BatcherBusy
from switch.db.database import Database
from switch.db.redis_link import (
    REDIS_FAILURES,
    RedisCalls,
    by_slot,
    eval_per_slot,
    open_redis,
    tagged,
)

T = TypeVar("T")
_FAILURES: tuple[type[Exception], ...] = (*REDIS_FAILURES, trio.TooSlowError, BatcherBusy)
log = logging.getLogger("switch.pays")
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
KEY_TTL_S = 2 * 86_400
REDIS_TIMEOUT_S = 0.25
BREAKER_OPEN_S = 2.0
MAX_GIVE_BACKS_QUEUED = 10_000
MAX_STALE_KEYS = 50_000  # beyond it, every counter of this database is re-seeded
LOG_EVERY_S = 10.0

# One call per batch: KEYS[i] is a counter, ARGV[2i-1] the amount, ARGV[2i] the limit.
# Each answer: 1 admitted (added), 0 refused (over the limit, nothing added), -1 no
# counter yet. In order, so two pays of one agent in a batch see each other.
_ADMIT = """
local out = {}
for i, key in ipairs(KEYS) do
  local amount, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if redis.call('EXISTS', key) == 0 then
    out[i] = -1
  elseif redis.call('INCRBY', key, amount) > limit then
    redis.call('DECRBY', key, amount)
    out[i] = 0
  else
    out[i] = 1
  end
end
return out
"""
# KEYS[i] gives back ARGV[i] (a counter that is gone stays gone: its seed will be right).
_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, ARGV[i]) end
end
return 0
"""
_SOURCES = (_ADMIT, _GIVE_BACK)  # by the indexes below, as registered in _scripts
ADMIT, GIVE_BACK = 0, 1
# What the day has spent: pays not voided. ``$4``: the states left out besides
# 'voided'. Seeding a counter leaves out 'received' too: those pays have not been
# admitted yet (a pay leaves 'received' once admitted) and will add themselves.
_SPENT_SQL = """SELECT coalesce(sum(amount_paise), 0)::bigint FROM pays
                 WHERE agent_id = $1 AND created_at >= $2 AND created_at < $3
                   AND state <> ALL($4::text[]) AND id <> $5"""
_UNCOUNTED_IN_PG = ["voided"]
_UNCOUNTED_IN_SEED = ["voided", "received"]


@dataclass
class DaySpendStats:
    admitted: int = 0
    refused: int = 0
    seeded: int = 0  # counters (re)built from PostgreSQL
    exact_checks: int = 0  # limits checked against PostgreSQL (no Redis)
    redis_errors: int = 0
    given_back: int = 0  # voided pays' amounts returned to their day
    give_backs_dropped: int = 0  # queue full: those amounts stay counted
    breaker_opened: int = 0  # Redis failed: PostgreSQL alone for BREAKER_OPEN_S
    reseeds: int = 0  # counters deleted after an outage, to be seeded again


def _deleting(keys: list[str]) -> Callable[[Any], Awaitable[Any]]:
    return lambda client: client.delete(*keys)


def ist_day(at: dt.datetime) -> dt.date:
    return at.astimezone(IST).date()


class DaySpend:
    def __init__(self, db: Database, redis_url: str | None) -> None:
        self._db = db
        self._url = redis_url
        self._redis: RedisCalls | None = None  # its client lives on the database's loop
        self._scripts: tuple[Any, ...] | None = None
        self._cluster = False
        self._namespace = ""
        self._admits: Batcher[tuple[str, int, int], int] = Batcher(self._apply_admits)
        send, self._give_backs = trio.open_memory_channel[tuple[str, int]](MAX_GIVE_BACKS_QUEUED)
        self._send_give_back = send
        self.stats = DaySpendStats()
        self._logged_at = float("-inf")
        self._open_until = float("-inf")  # the breaker: no Redis call before this
        self._stale: set[str] = set()  # counters this process could not keep
        self._all_stale = False  # too many to list: every counter is re-seeded
        self._forgetting = trio.Lock()

    def statistics(self) -> DaySpendStats:
        return self.stats

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect (if a Redis URL is set), then batch admissions and give-backs."""
        if self._url:
            await self._connect()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._admits.run)
                nursery.start_soon(self._give_back_loop)
                task_status.started()
        finally:
            if self._redis is not None:
                await self._redis.aclose()

    async def _connect(self) -> None:
        assert self._url
        self._redis, self._namespace = await open_redis(
            self._db, self._url, "spend", REDIS_TIMEOUT_S
        )
        client = self._redis.client
        self._cluster = self._redis.cluster
        self._scripts = tuple(client.register_script(source) for source in _SOURCES)

    def _key(self, agent_id: str, day: dt.date) -> str:
        return tagged(self._namespace, agent_id, day.isoformat())

    async def admit(
        self,
        agent_id: str,
        created_at: dt.datetime,
        amount_paise: int,
        limit_paise: int,
        pay_id: int,
    ) -> bool:
        """Count this new pay against the agent's day, if the day's total stays within
        ``limit_paise``; whether it does."""
        day = ist_day(created_at)
        if self._redis is None:
            return await self._exact(agent_id, day, amount_paise, limit_paise, pay_id)
        key = self._key(agent_id, day)
        admitted = await self._admit_in_redis(key, agent_id, day, amount_paise, limit_paise, pay_id)
        if admitted is not None:
            return admitted
        self._mark_stale(key)  # counted in PostgreSQL only: Redis's counter misses it
        return await self._exact(agent_id, day, amount_paise, limit_paise, pay_id)

    async def _admit_in_redis(
        self, key: str, agent_id: str, day: dt.date, amount: int, limit: int, pay_id: int
    ) -> bool | None:
        """Whether the pay fits, counted in Redis; None when Redis failed or is not
        to be asked now (the breaker is open)."""
        if trio.current_time() < self._open_until:
            return None
        try:
            to_forget = self._stale or self._all_stale or self._forgetting.locked()
            if to_forget and not await self._forget_stale():
                return None
            for _ in range(2):  # a missing counter is seeded once, then asked again
                result = await self._admits.submit((key, amount, limit))
                if result >= 0:
                    self._count(result == 1)
                    return result == 1
                await self._seed(key, agent_id, day, pay_id)
        except _FAILURES as exc:
            self._redis_failed(exc)
        return None

    def give_back(self, agent_id: str, created_at: dt.datetime, amount_paise: int) -> None:
        """A pay counted by ``admit`` was voided: its amount no longer counts. Never
        blocks (a pay's final move calls it); a full queue keeps the amount counted."""
        if self._redis is None:
            return
        try:
            key = self._key(agent_id, ist_day(created_at))
            self._send_give_back.send_nowait((key, amount_paise))
        except trio.WouldBlock:
            self.stats.give_backs_dropped += 1

    def _mark_stale(self, key: str) -> None:
        if len(self._stale) < MAX_STALE_KEYS:
            self._stale.add(key)
        else:
            self._all_stale = True

    async def _forget_stale(self) -> bool:
        """Redis answers again: delete the counters it missed meanwhile (they are
        seeded again from the pays of record), before anything else is counted.
        False: Redis failed meanwhile (the breaker is open), nothing was tried."""
        async with self._forgetting:  # admissions behind it wait: none counts on a stale key
            # Each admission queued here must not try again a Redis that just failed
            # the one before it: one by one, their timeouts would add up.
            if trio.current_time() < self._open_until:
                return False
            stale, self._stale = self._stale, set()
            everything, self._all_stale = self._all_stale, False
            if not stale and not everything:
                return True  # another admission did it while this one waited
            try:
                keys = sorted(stale)
                if everything:
                    # A scan of every master: longer than one call.
                    keys = await self._call(self._all_keys, REDIS_TIMEOUT_S * 40)
                for i in range(0, len(keys), 1000):
                    await self._call(_deleting(keys[i : i + 1000]), REDIS_TIMEOUT_S * 8)
            except BaseException:
                self._stale |= stale  # still to do
                self._all_stale |= everything
                raise
            self.stats.reseeds += len(keys)
            log.info("per-day counters back in Redis: %d re-seeded from PostgreSQL", len(keys))
            return True

    async def _all_keys(self, client: Any) -> list[str]:
        keys: list[str] = []
        async for key in client.scan_iter(match=f"{self._namespace}:*", count=1000):
            keys.append(key.decode() if isinstance(key, bytes) else key)
        return keys

    def _redis_failed(self, exc: BaseException) -> None:
        """Open the breaker; count it; log it at most every ``LOG_EVERY_S`` (a Redis
        outage fails every pay's admission: one line per pay would bury the log)."""
        self.stats.redis_errors += 1
        now = trio.current_time()
        if now >= self._open_until:
            self.stats.breaker_opened += 1
        self._open_until = now + BREAKER_OPEN_S
        if now - self._logged_at >= LOG_EVERY_S:
            log.warning(
                "per-day limits checked in PostgreSQL: Redis failed (%d failures so far): %r",
                self.stats.redis_errors,
                exc,
            )
            self._logged_at = now

    def _count(self, admitted: bool) -> None:
        if admitted:
            self.stats.admitted += 1
        else:
            self.stats.refused += 1

    async def _seed(self, key: str, agent_id: str, day: dt.date, pay_id: int) -> None:
        """Start the day's counter from the pays of record (if no one has meanwhile)."""
        spent = await self._spent(agent_id, day, pay_id, _UNCOUNTED_IN_SEED)
        await self._call(lambda r: r.set(key, spent, nx=True, ex=KEY_TTL_S), REDIS_TIMEOUT_S * 4)
        self.stats.seeded += 1

    async def _exact(
        self, agent_id: str, day: dt.date, amount_paise: int, limit_paise: int, pay_id: int
    ) -> bool:
        self.stats.exact_checks += 1
        # Pays of the agent being admitted at this moment count too: a conservative
        # answer (refusing one that would have fit) rather than letting two pass.
        spent = await self._spent(agent_id, day, pay_id, _UNCOUNTED_IN_PG)
        admitted = spent + amount_paise <= limit_paise
        self._count(admitted)
        return admitted

    async def _spent(self, agent_id: str, day: dt.date, pay_id: int, uncounted: list[str]) -> int:
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=IST)
        value = await self._db.fetchval(
            _SPENT_SQL, agent_id, midnight, midnight + dt.timedelta(days=1), uncounted, pay_id
        )
        return int(value)

    async def _apply_admits(self, items: Sequence[tuple[str, int, int]]) -> list[int | Exception]:
        """The batch's admissions; in a cluster a slot whose call failed fails its own
        pays only."""
        keys = [key for key, _, _ in items]
        answers = await self._per_slot(
            ADMIT, keys, lambda group: [n for i in group for n in items[i][1:]]
        )
        results: list[int | Exception] = [0] * len(items)
        for group, answer in answers:
            for n, i in enumerate(group):
                results[i] = answer if isinstance(answer, Exception) else int(answer[n])
        return results

    async def _per_slot(
        self, which: int, keys: list[str], args_of: Callable[[list[int]], list[int]]
    ) -> list[tuple[list[int], Any]]:
        """Script ``which`` (``ADMIT`` or ``GIVE_BACK``) over ``keys`` (``args_of``
        gives a group of key indexes its ARGV): one call on a single Redis (a failure
        raises); in a cluster one EVAL per hash slot, all in one pipeline (a round
        trip per master), each group's answer or its exception."""
        if not self._cluster:
            assert self._scripts is not None
            group = list(range(len(keys)))
            registered = self._scripts[which]
            args = args_of(group)
            answer = await self._call(
                lambda _: registered(keys=keys, args=args), REDIS_TIMEOUT_S * 5
            )
            return [(group, answer)]
        groups = by_slot(keys)
        calls = [([keys[i] for i in group], args_of(group)) for group in groups]
        source = _SOURCES[which]
        answers = await self._call(lambda r: eval_per_slot(r, source, calls), REDIS_TIMEOUT_S * 5)
        return list(zip(groups, answers, strict=True))

    async def _call(self, make: Callable[[Any], Awaitable[T]], timeout_s: float) -> T:
        assert self._redis is not None
        return await self._redis(make, timeout_s)

    async def _give_back_loop(self) -> None:
        assert self._scripts is not None or self._redis is None
        while True:
            batch = [await self._give_backs.receive()]
            while len(batch) < 256:
                try:
                    batch.append(self._give_backs.receive_nowait())
                except trio.WouldBlock:
                    break
            if trio.current_time() < self._open_until:  # Redis is failing: not tried
                for key, _ in batch:
                    self._mark_stale(key)
                continue
            try:
                await self._apply_give_backs(batch)
            except REDIS_FAILURES as exc:  # some slots failed: those are marked
                self._redis_failed(exc)
            except trio.TooSlowError as exc:
                self._redis_failed(exc)
                for key, _ in batch:  # not given back: re-seeded when Redis is back
                    self._mark_stale(key)

    async def _apply_give_backs(self, batch: Sequence[tuple[str, int]]) -> None:
        """The batch's give-backs; in a cluster the keys of a slot whose call failed
        are marked to be seeded again, then the failure is raised."""
        keys = [key for key, _ in batch]
        answers = await self._per_slot(GIVE_BACK, keys, lambda g: [batch[i][1] for i in g])
        failed = [(group, a) for group, a in answers if isinstance(a, Exception)]
        self.stats.given_back += len(batch) - sum(len(group) for group, _ in failed)
        for group, _ in failed:
            for i in group:
                self._mark_stale(keys[i])
        if failed:
            raise failed[0][1]
