"""Group-commit rules that need no database: splitting, sharing, backpressure.

The apply function here stands in for ledger_apply only to steer the batcher into
the cases under test; everything about money is tested against PostgreSQL elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from switch.ledger.batcher import BatchRejected, GroupCommit, Row
from switch.ledger.errors import LedgerBusy, LedgerError, LedgerUnavailable
from switch.ledger.requests import Op, Request


def req(key: str, amount: int = 100) -> Request:
    return Request(Op.RESERVE, key, 1, 2, amount, 1000)


def make(apply, **kw: int | float) -> GroupCommit:  # type: ignore[no-untyped-def]
    opts = {
        "max_batch": 64,
        "max_queued": 1000,
        "pipeline_depth": 2,
        "linger_s": 0.0,
        "batch_timeout_s": 5.0,
    } | kw
    return GroupCommit(apply, **opts)  # type: ignore[arg-type]


async def test_one_bad_request_does_not_fail_its_neighbours() -> None:
    seen: list[int] = []

    async def apply(batch: Sequence[Request]) -> list[Row]:
        seen.append(len(batch))
        if any(r.key == "bad" for r in batch):
            raise BatchRejected("boom")
        return [(0, i, 1, r.amount) for i, r in enumerate(batch)]

    gc = make(apply)
    results: dict[str, object] = {}

    async def one(key: str) -> None:
        try:
            results[key] = await gc.submit(req(key))
        except LedgerError as exc:
            results[key] = exc

    async with trio.open_nursery() as nursery:
        await nursery.start(gc.run)
        async with trio.open_nursery() as callers:
            for i in range(40):
                callers.start_soon(one, "bad" if i == 17 else f"k{i}")
        nursery.cancel_scope.cancel()
    assert isinstance(results.pop("bad"), LedgerError)
    assert all(isinstance(v, tuple) for v in results.values())
    assert gc.statistics().splits >= 1


async def test_identical_requests_share_one_slot_and_answer() -> None:
    batches: list[list[str]] = []

    async def apply(batch: Sequence[Request]) -> list[Row]:
        batches.append([r.key for r in batch])
        return [(0, 7, 1, r.amount) for r in batch]

    gc = make(apply)
    answers: list[Row] = []

    async def one() -> None:
        answers.append(await gc.submit(req("same")))

    async with trio.open_nursery() as nursery:
        await nursery.start(gc.run)
        async with trio.open_nursery() as callers:
            for _ in range(10):
                callers.start_soon(one)
        nursery.cancel_scope.cancel()
    assert answers == [(0, 7, 1, 100)] * 10
    assert sum(len(b) for b in batches) == 1


async def test_a_key_never_appears_twice_in_one_batch() -> None:
    batches: list[list[str]] = []

    async def apply(batch: Sequence[Request]) -> list[Row]:
        batches.append([r.key for r in batch])
        return [(0, 1, 1, r.amount) for r in batch]

    gc = make(apply)
    async with trio.open_nursery() as nursery:
        await nursery.start(gc.run)
        async with trio.open_nursery() as callers:
            for amount in (100, 200, 300):
                callers.start_soon(gc.submit, req("k", amount))
        nursery.cancel_scope.cancel()
    assert all(len(b) == len(set(b)) for b in batches)
    assert sum(len(b) for b in batches) == 3


async def test_a_full_queue_answers_busy_at_once() -> None:
    release = trio.Event()

    async def apply(batch: Sequence[Request]) -> list[Row]:
        await release.wait()
        return [(0, 1, 1, r.amount) for r in batch]

    gc = make(apply, max_batch=1, max_queued=5, pipeline_depth=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(gc.run)
        nursery.start_soon(gc.submit, req("in-flight"))
        await trio.testing.wait_all_tasks_blocked()
        for i in range(5):  # fills the queue behind the batch in flight
            nursery.start_soon(gc.submit, req(f"k{i}"))
        await trio.testing.wait_all_tasks_blocked()
        assert gc.statistics().queued == 5
        with pytest.raises(LedgerBusy):
            await gc.submit(req("one-too-many"))
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


async def test_a_database_that_never_answers_gives_unavailable_in_time() -> None:
    async def apply(batch: Sequence[Request]) -> list[Row]:
        await trio.sleep_forever()
        raise AssertionError

    gc = make(apply, batch_timeout_s=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(gc.run)
        with trio.fail_after(2), pytest.raises(LedgerUnavailable):
            await gc.submit(req("k"))
        nursery.cancel_scope.cancel()
