"""A pay's ledger effect and the state that records it are one transaction (the
machine's rule 9): the hold with ``sent``, the post with ``posted`` and its SMS. A
refusal writes neither; a stale copy's move fails but keeps the ledger's effect, as
two separate writes would; one refused request in a batch fails only itself."""

from __future__ import annotations

import pytest
import trio

from switch.ledger import InsufficientFunds, pay_key
from switch.ledger.types import TransferState
from switch.pays.states import PayState
from switch.pays.store import NewPay, Pay, PayConflict, PayStore
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch

WALLET_PAISE = 10_000_00  # what the ``terminals`` fixture gives each agent


def store(switch: RunningSwitch) -> PayStore:
    return switch.deps.service._store  # the running switch's own


async def new_pay(switch: RunningSwitch, creds: Credentials, ref: str, paise: int) -> Pay:
    pay, created = await store(switch).claim(
        NewPay(creds.terminal_id, ref, creds.agent_id, "UPPCL", "1234567890", paise)
    )
    assert created
    return pay


async def wallet_of(switch: RunningSwitch, creds: Credentials) -> int:
    wallet_id: int = await switch.db.fetchval(
        "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
    )
    return wallet_id


async def hold_and_send(switch: RunningSwitch, creds: Credentials, pay: Pay) -> Pay:
    request = switch.ledger.reserve_request(
        pay_key(creds.terminal_id, pay.terminal_ref),
        await wallet_of(switch, creds),
        switch.billers["UPPCL"].payable_account_id,
        pay.amount_paise,
        timeout_s=60,
    )
    return await store(switch).move(pay, PayState.SENT, ledger=request)


async def test_the_hold_and_sent_are_written_together_and_so_are_post_and_posted(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    creds = terminals[0]
    wallet = await wallet_of(switch, creds)
    pay = await new_pay(switch, creds, "M1", 250_00)
    sent = await hold_and_send(switch, creds, pay)
    key = pay_key(creds.terminal_id, "M1")
    assert sent.state is PayState.SENT
    assert await switch.ledger.state_of(key) is TransferState.PENDING
    assert await switch.ledger.balance(wallet) == WALLET_PAISE - 250_00
    confirmed = await store(switch).move(sent, PayState.CONFIRMED, biller_txn_id="B-1")
    posted = await store(switch).move(
        confirmed, PayState.POSTED, ledger=switch.ledger.post_request(key)
    )
    assert posted.state is PayState.POSTED and posted.biller_txn_id == "B-1"
    assert await switch.ledger.state_of(key) is TransferState.POSTED


async def test_a_hold_the_wallet_cannot_cover_moves_nothing(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    creds = terminals[0]
    pay = await new_pay(switch, creds, "M2", WALLET_PAISE + 1)
    with pytest.raises(InsufficientFunds):
        await hold_and_send(switch, creds, pay)
    assert (await store(switch).get(pay.id)).state is PayState.RECEIVED  # type: ignore[union-attr]
    assert await switch.ledger.balance(await wallet_of(switch, creds)) == WALLET_PAISE


async def test_a_stale_copy_keeps_the_hold_and_the_fresh_copy_replays_it(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    """Another driver moved the pay first: our move fails, our hold stays (as when
    the hold and the record were two writes); driving the stored pay on replays the
    same hold, so the wallet is held once."""
    creds = terminals[0]
    pay = await new_pay(switch, creds, "M3", 100_00)
    first = await hold_and_send(switch, creds, pay)
    with pytest.raises(PayConflict):
        await hold_and_send(switch, creds, pay)  # our copy still says "received"
    assert await switch.ledger.balance(await wallet_of(switch, creds)) == WALLET_PAISE - 100_00
    assert (await store(switch).get(pay.id)) == first


async def test_one_refused_hold_in_a_batch_fails_only_itself(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    creds = terminals[1]
    pays = [await new_pay(switch, creds, f"B{i}", 1_000_00) for i in range(8)]
    big = await new_pay(switch, creds, "BIG", WALLET_PAISE + 1)  # never fits
    results: dict[str, Pay | Exception] = {}

    async def one(p: Pay) -> None:
        try:
            results[p.terminal_ref] = await hold_and_send(switch, creds, p)
        except Exception as exc:
            results[p.terminal_ref] = exc

    async with trio.open_nursery() as nursery:  # concurrent: they share batches
        for p in [*pays, big]:
            nursery.start_soon(one, p)
    sent = [r for r in results.values() if isinstance(r, Pay)]
    refused = [r for r in results.values() if isinstance(r, InsufficientFunds)]
    assert len(sent) == 8 and len(refused) == 1, results
    assert isinstance(results["BIG"], InsufficientFunds)
    held = sum(p.amount_paise for p in sent)
    assert all(p.state is PayState.SENT for p in sent)
    assert await switch.ledger.balance(await wallet_of(switch, creds)) == WALLET_PAISE - held
