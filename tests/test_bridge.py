"""The trio-to-asyncio bridge (asyncpg and redis-py run behind it): every call gets
its own answer or its own exception, a cancelled trio caller cancels the asyncio work,
and a burst of calls wakes the asyncio loop far fewer times than it has calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from switch.db.bridge import AsyncioBridge, BridgeClosed


@asynccontextmanager
async def bridge() -> AsyncIterator[AsyncioBridge]:
    b = AsyncioBridge("test-bridge")
    b.start()
    try:
        yield b
    finally:
        b.stop()


async def echo(n: int) -> int:
    await asyncio.sleep(0)
    return n


async def test_a_burst_of_calls_each_gets_its_own_answer_with_few_wakeups() -> None:
    async with bridge() as b:
        answers: dict[int, int] = {}

        async def one(n: int) -> None:
            answers[n] = await b.run(echo(n))

        async with trio.open_nursery() as nursery:
            for n in range(2000):
                nursery.start_soon(one, n)
        assert answers == {n: n for n in range(2000)}
        assert b.calls == 2000
        assert b.wakeups < 2000 / 4  # woken once for many calls, not once each


async def test_an_exception_reaches_its_own_caller_only() -> None:
    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("from asyncio")

    async with bridge() as b:
        with pytest.raises(ValueError, match="from asyncio"):
            await b.run(fail())
        assert await b.run(echo(7)) == 7


async def test_a_cancelled_caller_cancels_the_asyncio_task() -> None:
    seen: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async with bridge() as b:
        with trio.move_on_after(0.2):
            await b.run(slow())
        with trio.fail_after(5):
            while not seen:  # noqa: ASYNC110 (the asyncio thread appends)
                await trio.sleep(0.01)
        assert seen == ["cancelled"]


async def test_a_stopped_bridge_refuses_calls() -> None:
    async with bridge() as b:
        pass
    coro = echo(1)
    with pytest.raises(BridgeClosed):
        await b.run(coro)
