"""The ledger's promises about money: no overdraft, exactly-once, clear refusals."""

from __future__ import annotations

import random

import trio

from switch.ledger import (
    AccountKind,
    AlreadyResolved,
    InsufficientFunds,
    Ledger,
    ModifiedRequest,
    Transfer,
    TransferState,
    pay_key,
)
from switch.ledger.types import IN_FLIGHT_CODE


async def wallet_and_biller(ledger: Ledger, balance_paise: int) -> tuple[int, int]:
    wallet = await ledger.open_account(AccountKind.WALLET, "wallet:agent-1", "Ram General Store")
    biller = await ledger.open_account(AccountKind.BILLER, "biller:uppcl", "UPPCL")
    if balance_paise:
        await ledger.top_up(wallet.id, balance_paise, bank_ref="UTR-0001")
    return wallet.id, biller.id


async def test_200_concurrent_reserves_against_a_wallet_covering_50(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 50 * 120_00)
    ok: list[Transfer] = []
    refused: list[InsufficientFunds] = []

    async def pay(i: int) -> None:
        try:
            ok.append(await ledger.reserve(pay_key("T1", f"R{i}"), wallet, biller, 120_00))
        except InsufficientFunds as exc:
            refused.append(exc)

    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(pay, i)

    assert len(ok) == 50
    assert len(refused) == 150
    assert await ledger.balance(wallet) == 0
    in_flight = await ledger.account_by_code(IN_FLIGHT_CODE)
    assert in_flight.balance_paise == 50 * 120_00
    assert all(t.state is TransferState.PENDING for t in ok)


async def test_same_pay_twenty_times_concurrently_holds_once(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 1000_00)
    answers: list[Transfer] = []

    async def pay() -> None:
        answers.append(await ledger.reserve(pay_key("T1", "REF-42"), wallet, biller, 250_00))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(pay)

    assert len(answers) == 20
    assert len({(a.id, a.key, a.state, a.amount_paise) for a in answers}) == 1
    assert await ledger.balance(wallet) == 750_00


async def test_retry_after_the_first_answer_is_a_replay(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 1000_00)
    first = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 100_00)
    again = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 100_00)
    assert (again.id, again.state, again.replayed) == (first.id, TransferState.PENDING, True)
    assert not first.replayed
    assert await ledger.balance(wallet) == 900_00


async def test_same_key_different_amount_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 1000_00)
    first = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 100_00)
    other_biller = await ledger.open_account(AccountKind.BILLER, "biller:jal", "Jal Nigam")
    for amount, credit in [(100_01, biller), (100_00, other_biller.id)]:
        try:
            await ledger.reserve(pay_key("T1", "R1"), wallet, credit, amount)
        except ModifiedRequest as exc:
            assert exc.code == "modified_request"
        else:
            raise AssertionError("a modified request was accepted")
    assert await ledger.balance(wallet) == 900_00
    still = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 100_00)
    assert still.id == first.id and still.state is TransferState.PENDING


async def test_post_moves_money_to_the_biller_once(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 500_00)
    hold = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 200_00)
    posted = await ledger.post(hold.key)
    assert posted.state is TransferState.POSTED and not posted.replayed
    assert posted.amount_paise == 200_00
    again = await ledger.post(hold.key)
    assert again.state is TransferState.POSTED and again.replayed
    assert await ledger.balance(biller) == 200_00
    assert await ledger.balance(wallet) == 300_00
    try:
        await ledger.void(hold.key)
    except AlreadyResolved as exc:
        assert "posted" in exc.message
    else:
        raise AssertionError("a posted transfer was voided")
    assert await ledger.balance(wallet) == 300_00


async def test_void_returns_the_hold_to_the_wallet_once(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 500_00)
    hold = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 200_00)
    assert (await ledger.void(hold.key)).state is TransferState.VOIDED
    assert (await ledger.void(hold.key)).replayed
    try:
        await ledger.post(hold.key)
    except AlreadyResolved:
        pass
    else:
        raise AssertionError("a voided transfer was posted")
    assert await ledger.balance(wallet) == 500_00
    assert await ledger.balance(biller) == 0


async def test_concurrent_post_and_void_resolve_exactly_once(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 100 * 10_00)
    holds = [
        await ledger.reserve(pay_key("T1", f"R{i}"), wallet, biller, 10_00) for i in range(100)
    ]
    outcomes: dict[str, list[str]] = {h.key: [] for h in holds}

    async def resolve(key: str, how: str) -> None:
        try:
            await (ledger.post(key) if how == "post" else ledger.void(key))
            outcomes[key].append(how)
        except AlreadyResolved:
            pass

    async with trio.open_nursery() as nursery:
        for h in holds:
            nursery.start_soon(resolve, h.key, "post")
            nursery.start_soon(resolve, h.key, "void")

    assert all(len(v) == 1 for v in outcomes.values())
    posted = sum(1 for v in outcomes.values() if v == ["post"])
    assert await ledger.balance(biller) == posted * 10_00
    assert await ledger.balance(wallet) == (100 - posted) * 10_00


async def test_rejected_reserve_is_remembered_for_its_key(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 50_00)
    for _ in range(2):
        try:
            await ledger.reserve(pay_key("T1", "BIG"), wallet, biller, 60_00)
        except InsufficientFunds as exc:
            assert exc.code == "insufficient_funds"
        else:
            raise AssertionError("an overdraft was accepted")
    await ledger.top_up(wallet, 100_00, bank_ref="UTR-0002")
    # Same reference: the first answer stands, even though the wallet could pay now.
    try:
        await ledger.reserve(pay_key("T1", "BIG"), wallet, biller, 60_00)
    except InsufficientFunds:
        pass
    else:
        raise AssertionError("a retry changed the first answer")
    assert await ledger.balance(wallet) == 150_00


async def test_top_up_is_idempotent_on_the_bank_reference(ledger: Ledger) -> None:
    wallet, _ = await wallet_and_biller(ledger, 0)
    first = await ledger.top_up(wallet, 1000_00, bank_ref="UTR-77")
    second = await ledger.top_up(wallet, 1000_00, bank_ref="UTR-77")
    assert second.id == first.id and second.replayed
    try:
        await ledger.top_up(wallet, 2000_00, bank_ref="UTR-77")
    except ModifiedRequest:
        pass
    else:
        raise AssertionError("the same bank reference credited a different amount")
    assert await ledger.balance(wallet) == 1000_00


async def test_pending_transfer_past_its_deadline_is_voided(ledger: Ledger) -> None:
    wallet, biller = await wallet_and_biller(ledger, 100_00)
    hold = await ledger.reserve(pay_key("T1", "SLOW"), wallet, biller, 40_00, timeout_s=0.2)
    assert await ledger.balance(wallet) == 60_00
    with trio.fail_after(5):
        while await ledger.balance(wallet) != 100_00:  # noqa: ASYNC110 (polls the database)
            await trio.sleep(0.05)
    try:
        await ledger.post(hold.key)
    except AlreadyResolved as exc:
        assert "voided" in exc.message
    else:
        raise AssertionError("an expired hold was posted")
    assert ledger.expired_total >= 1


async def test_concurrent_reserves_are_decided_greedily(ledger: Ledger) -> None:
    """Whatever order they arrive in, each reserve is refused only if the balance left
    at its turn could not cover it: so every refused amount exceeds what is left at the
    end, and the accepted ones never overdraw."""
    biller = await ledger.open_account(AccountKind.BILLER, "biller:uppcl", "UPPCL")
    rng = random.Random(20261122)
    for round_no in range(25):
        wallet = await ledger.open_account(AccountKind.WALLET, f"wallet:{round_no}", "agent")
        balance = rng.randint(1, 5000)
        await ledger.top_up(wallet.id, balance, bank_ref=f"UTR-{round_no}")
        amounts = [rng.randint(1, 1500) for _ in range(rng.randint(2, 30))]
        accepted: list[int] = []
        refused: list[int] = []

        async def pay(i: int, amount: int, wallet_id: int, ok: list[int], no: list[int]) -> None:
            try:
                await ledger.reserve(
                    pay_key("T1", f"{wallet_id}-{i}"), wallet_id, biller.id, amount
                )
                ok.append(amount)
            except InsufficientFunds:
                no.append(amount)

        async with trio.open_nursery() as nursery:
            for i, amount in enumerate(amounts):
                nursery.start_soon(pay, i, amount, wallet.id, accepted, refused)
        left = await ledger.balance(wallet.id)
        assert left == balance - sum(accepted) >= 0
        assert all(amount > left for amount in refused), (balance, amounts, refused, left)
