"""An order's life: one attempt to collect a payment link's amount through the
gateway and pay the bill with it. Pure rules over states; the driver
(``service.py``) takes each step under the order's row lock, from the stored state.

```
created --collect taken--> pending --payer approved--> collected --link payable--> paying
   \\--collect refused--> failed       \\--declined, expired--> failed
failed --success after all (late)--> collected
collected --link not payable (paid by another order, expired)--> refunding
paying --pay posted--> paid            paying --pay failed--> refunding
refunding --gateway refunded--> refunded
```

Rules:

1. Money in: the gateway's word "success" (a signed callback or the answer to a
   status inquiry) moves an order to ``collected``, and the ledger credits the
   amount to the gateway settlement account (from the gateway's receivable) in the
   same transaction. Any later word for the order changes nothing: a duplicate or
   late callback never credits twice.
2. Money found late: "success" for an order already ``failed`` (the payer approved
   after the switch gave up asking) is still money in (rule 1): it is never lost.
3. Paid once: a collected order pays its link only if the link is open, unexpired
   and not taken by another order (``paid_order``); it takes the link in the same
   transaction as it moves to ``paying``. Otherwise its money is refunded.
4. Write before the side effect: ``paying`` is stored before the pay is asked for,
   ``refunding`` (with the ledger's debit of the settlement account) before the
   gateway is asked to refund. The pay (its ref is the order id) and the refund (its
   id is the order id) are idempotent, so a driver that dies between the two asks
   again.
5. Money out: a pay that fails gives the link back (still open while unexpired) and
   the order refunds; ``paid`` and ``refunded`` are final.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OrderState(enum.StrEnum):
    CREATED = "created"
    PENDING = "pending"
    FAILED = "failed"
    COLLECTED = "collected"
    PAYING = "paying"
    PAID = "paid"
    REFUNDING = "refunding"
    REFUNDED = "refunded"

    @property
    def final(self) -> bool:
        return self in (OrderState.PAID, OrderState.REFUNDED)


S = OrderState
ALLOWED: dict[OrderState, frozenset[OrderState]] = {
    S.CREATED: frozenset({S.PENDING, S.FAILED, S.COLLECTED}),
    S.PENDING: frozenset({S.COLLECTED, S.FAILED}),
    S.FAILED: frozenset({S.COLLECTED}),  # rule 2
    S.COLLECTED: frozenset({S.PAYING, S.REFUNDING}),
    S.PAYING: frozenset({S.PAID, S.REFUNDING}),
    S.REFUNDING: frozenset({S.REFUNDED}),
    S.PAID: frozenset(),
    S.REFUNDED: frozenset(),
}

GATEWAY_WORDS = ("pending", "success", "failed", "expired")


class BadTransition(Exception):
    pass


def check(old: OrderState, new: OrderState) -> None:
    if new not in ALLOWED[old]:
        raise BadTransition(f"an order never goes from {old} to {new}")


def on_gateway_word(state: OrderState, word: str) -> OrderState | None:
    """Where the gateway's word about an order takes it (None: nowhere, rules 1-2)."""
    assert word in GATEWAY_WORDS, word
    if word == "success":
        return S.COLLECTED if state in (S.CREATED, S.PENDING, S.FAILED) else None
    if word in ("failed", "expired"):
        return S.FAILED if state in (S.CREATED, S.PENDING) else None
    return S.PENDING if state is S.CREATED else None


@dataclass(frozen=True)
class LinkView:
    """What rule 3 reads of the link, under its lock."""

    state: str  # open | paid | expired
    expired: bool  # its time has passed (whatever its state says yet)
    paid_order: str | None


def after_collect(link: LinkView, order_id: str) -> OrderState:
    """Rule 3: pay the link, or refund the money."""
    free = link.paid_order in (None, order_id)
    return S.PAYING if link.state == "open" and not link.expired and free else S.REFUNDING
