"""Faults a biller simulator can be told to inject, per operation, at run time.

    POST   /v1/admin/faults  {"op": "pay", "kind": "lose_reply", "probability": 0.3,
                              "count": 10, "latency_ms": [50, 500], "drip_ms": 100}
    GET    /v1/admin/faults  what is set, and how often each kind has fired
    DELETE /v1/admin/faults  back to health

``op`` is fetch, pay, status, reversal or any. Kinds:

| kind | what the switch sees |
|---|---|
| latency | the answer, after a delay drawn uniformly from ``latency_ms`` |
| hang | nothing, ever: the request is never answered |
| lose_reply | the request is applied, then the connection is reset before the answer |
| error_5xx | 503 before the request is looked at: nothing applied (the switch must ask) |
| garbage | a 200 whose body is not JSON (the request was applied) |
| reset | the connection reset before the request is looked at (nothing applied) |
| duplicate_reply | the answer, twice on the same connection |
| slow_drip | the answer, one byte every ``drip_ms`` |
| down | every connection reset at once, whatever the operation (``op`` ignored) |
| other_txn_reply | (pay, status) applied, answered as "applied" for another switch txn id |
| other_amount_reply | (pay, status) applied as asked, answered with ``skew_paise`` less |
| other_account_reply | (pay, status) applied as asked, answered for another account |
| refuse_reversal | (reversal) an applied payment: 409 ``not_reversible``, kept applied |

Book faults: the biller answers normally but its books are wrong, which only the
daily report shows (reconciliation, docs/settlement.md):

| kind | what the biller does |
|---|---|
| forget_payment | (pay) answers "applied" with a txn id, and never records it |
| skew_amount | (pay) answers as asked; records ``skew_paise`` less (at least 1 paisa kept) |
| ignore_reversal | (reversal) acknowledges it, and keeps the payment applied |

Each fault fires with ``probability`` and, if ``count`` is given, that many times at
most. A seeded generator makes a run repeatable.
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import trio

KINDS = (
    "latency",
    "hang",
    "lose_reply",
    "error_5xx",
    "garbage",
    "reset",
    "duplicate_reply",
    "slow_drip",
    "down",
    "other_txn_reply",
    "other_amount_reply",
    "other_account_reply",
    "refuse_reversal",
    "forget_payment",
    "skew_amount",
    "ignore_reversal",
)
BOOK_KINDS = ("forget_payment", "skew_amount", "ignore_reversal")
OPS = ("fetch", "pay", "status", "reversal", "any")
HANG_S = 600.0  # "never", bounded: a hung request is dropped after ten minutes


@dataclass
class Fault:
    op: str
    kind: str
    probability: float = 1.0
    count: int | None = None
    latency_ms: tuple[float, float] = (100.0, 1000.0)
    drip_ms: float = 100.0
    skew_paise: int = 100
    fired: int = 0

    @classmethod
    def parse(cls, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        op, kind = body.get("op", "any"), body.get("kind")
        if op not in OPS:
            raise ValueError(f"op must be one of {OPS}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        probability = float(body.get("probability", 1.0))
        if not 0 < probability <= 1:
            raise ValueError("probability must be in (0, 1]")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        low, high = body.get("latency_ms", [100, 1000])
        skew = body.get("skew_paise", 100)
        if not isinstance(skew, int) or skew < 1:
            raise ValueError("skew_paise must be a positive integer")
        return cls(
            op,
            kind,
            probability,
            count,
            (float(low), float(high)),
            float(body.get("drip_ms", 100)),
            skew,
        )


@dataclass
class FaultInjector:
    seed: int = 1
    faults: list[Fault] = field(default_factory=list)
    fired: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "faults": [f.__dict__ | {"latency_ms": list(f.latency_ms)} for f in self.faults],
            "fired": dict(self.fired),
        }

    def pick(self, op: str) -> Fault | None:
        if op in ("other", "admin"):
            return None
        for fault in self.faults:
            if fault.kind == "down" or fault.op in (op, "any"):
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                if self._rng.random() < fault.probability:
                    fault.fired += 1
                    self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                    return fault
        return None

    async def before(self, fault: Fault, stream: trio.SocketStream) -> str | None:
        """Before the request is handled: "closed" (the connection is finished),
        "refuse" (answer 503 without handling it), or None (handle it)."""
        if fault.kind == "latency":
            await trio.sleep(self._rng.uniform(*fault.latency_ms) / 1000)
        elif fault.kind == "hang":
            await trio.sleep(HANG_S)
            return "closed"
        elif fault.kind in ("reset", "down"):
            await _reset(stream)
            return "closed"
        elif fault.kind == "error_5xx":
            return "refuse"
        return None

    def rewrite(self, fault: Fault, status: int, payload: bytes) -> tuple[int, bytes]:
        if fault.kind == "garbage":
            return 200, b"<html><body>Service Temporarily Unavailable</body>"
        return status, payload

    async def deliver(self, fault: Fault, stream: trio.SocketStream, wire: bytes) -> bool:
        """Send the answer the faulty way. True: the connection is finished."""
        if fault.kind == "lose_reply":
            await _reset(stream)
            return True
        if fault.kind == "duplicate_reply":
            await stream.send_all(wire + wire)
        elif fault.kind == "slow_drip":
            for i in range(len(wire)):
                await stream.send_all(wire[i : i + 1])
                await trio.sleep(fault.drip_ms / 1000)
        else:
            await stream.send_all(wire)
        return False


async def _reset(stream: trio.SocketStream) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset', not a clean end."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()
