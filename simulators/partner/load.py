"""The partner's load mode: many bills fetched and paid at once, as a bank's batch
would, with retries of the same Idempotency-Key (after a 503 or a lost connection,
and deliberately: a share of pays is sent twice at once, the way a client that timed
out and retried races its own first request). Every key must end as one pay.

    python -m simulators.partner --url http://127.0.0.1:8443 --credentials bank.json \\
        --pays 1000 --concurrency 50 --billers UPPCL:discom
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from simulators.partner.client import Answer, PartnerClient
from switch.protocols.http11 import HttpError

RETRIABLE = frozenset({503, 500})
MAX_TRIES = 6  # per request: then the pay is left to ``settle``
BACKOFF_S = 0.05
SETTLE_POLLS = 40


@dataclass
class LoadResult:
    pays: int = 0  # keys paid (each once, whatever the retries)
    success: int = 0
    failed: int = 0
    pending: int = 0
    retries: int = 0
    duplicates: int = 0  # copies sent racing their first request
    amount_paise: int = 0  # of the successful ones
    codes: Counter[str] = field(default_factory=Counter)  # failed pays' codes, errors
    txn_by_key: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)  # fetch + pay, per key
    elapsed_s: float = 0.0
    mismatched: list[str] = field(default_factory=list)  # a copy answered another txn

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "pays": self.pays,
            "success": self.success,
            "failed": self.failed,
            "pending": self.pending,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "amount_paise": self.amount_paise,
            "codes": dict(self.codes),
            "mismatched": len(self.mismatched),
            "elapsed_s": round(self.elapsed_s, 2),
            "pairs_per_s": round(self.pays / self.elapsed_s, 1) if self.elapsed_s else None,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
        }


async def _send(client: PartnerClient, result: LoadResult, call: Any) -> Answer | None:
    """One request, retried (bounded) while the switch says try again."""
    for attempt in range(MAX_TRIES):
        r: Answer | None
        try:
            r = await call()
        except HttpError:
            r = None
        if r is not None and r.status_code not in RETRIABLE:
            return r
        result.retries += 1
        await trio.sleep(BACKOFF_S * 2**attempt)
    return None


async def _one(
    client: PartnerClient,
    result: LoadResult,
    key: str,
    biller: str,
    account: str,
    duplicate: bool,
) -> None:
    started = time.perf_counter()
    bill = await _send(client, result, lambda: client.fetch(biller, account))
    if bill is None or bill.status_code != 200:
        result.codes[f"fetch:{_code(bill)}"] += 1
        return
    due, ref = bill.json()["amount_paise"], bill.json()["bill_ref"]
    answers: list[dict[str, Any]] = []

    async def pay() -> None:
        r = await _send(client, result, lambda: client.pay(key, biller, account, due, bill_ref=ref))
        if r is not None and r.status_code in (200, 202):
            answers.append(r.json())
        else:
            result.codes[f"pay:{_code(r)}"] += 1

    async with trio.open_nursery() as copies:
        copies.start_soon(pay)
        if duplicate:
            result.duplicates += 1
            copies.start_soon(pay)
    result.latencies_s.append(time.perf_counter() - started)
    if not answers:
        return
    if len({a["txn"] for a in answers}) != 1:
        result.mismatched.append(key)
    final = await _settle(client, result, key, answers[0])
    result.pays += 1
    result.txn_by_key[key] = final["txn"]
    if final["status"] == "success":
        result.success += 1
        result.amount_paise += due
    elif final["status"] == "failed":
        result.failed += 1
        result.codes[f"failed:{final.get('code')}"] += 1
    else:
        result.pending += 1


async def _settle(
    client: PartnerClient, result: LoadResult, key: str, answer: dict[str, Any]
) -> dict[str, Any]:
    """A pending pay asked after until it is final (bounded)."""
    for _ in range(SETTLE_POLLS):
        if answer["status"] != "pending":
            return answer
        await trio.sleep(0.25)
        r = await _send(client, result, lambda: client.status(key))
        if r is not None and r.status_code in (200, 202):
            answer = r.json()
    return answer


def _code(r: Answer | None) -> str:
    if r is None:
        return "no_answer"
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return str(r.status_code)


async def run_load(
    client: PartnerClient,
    consumers: Sequence[tuple[str, str]],
    *,
    pays: int | None = None,
    duration_s: float | None = None,
    concurrency: int,
    duplicate_share: float = 0.1,
    key_prefix: str = "LOAD",
    seed: int = 1,
    result: LoadResult | None = None,
) -> LoadResult:
    """Bills of ``consumers`` (biller, account), round robin, ``concurrency`` at a time,
    until ``pays`` keys are done or ``duration_s`` has passed (whichever is given
    first); a ``duplicate_share`` of them sent twice at once. Counts go into ``result``
    as pays finish (a benchmark reads it while the load runs)."""
    assert pays is not None or duration_s is not None, "a bound: pays or duration_s"
    rng = random.Random(seed)
    result = result if result is not None else LoadResult()
    started = time.perf_counter()
    deadline = started + duration_s if duration_s is not None else float("inf")
    limit = pays if pays is not None else 10**9
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < limit and time.perf_counter() < deadline:
            i = issued
            issued += 1
            biller, account = consumers[i % len(consumers)]
            duplicate = rng.random() < duplicate_share
            await _one(client, result, f"{key_prefix}-{i}", biller, account, duplicate)

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    result.elapsed_s = time.perf_counter() - started
    return result
