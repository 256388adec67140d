"""Bad requests get a clear error and write nothing."""

from __future__ import annotations

import asyncpg
import pytest

from switch.ledger import (
    AccountKind,
    InvalidAmount,
    InvalidKey,
    Ledger,
    LedgerError,
    UnknownAccount,
    UnknownTransfer,
    pay_key,
)
from tests.helpers import query, scalar

BAD_AMOUNTS = [0, -1, -100_00, 1.5, 100.0, "100", None, True, 10_000_000_01]


async def snapshot(url: str) -> tuple[object, ...]:
    rows = query(url, "SELECT id, balance_paise FROM accounts ORDER BY id")
    return (tuple(tuple(r) for r in rows), scalar(url, "SELECT count(*) FROM transfers"))


async def setup(ledger: Ledger) -> tuple[int, int]:
    wallet = await ledger.open_account(AccountKind.WALLET, "wallet:a", "A")
    biller = await ledger.open_account(AccountKind.BILLER, "biller:b", "B")
    await ledger.top_up(wallet.id, 1000_00, "UTR-1")
    return wallet.id, biller.id


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_bad_amounts_are_refused_and_nothing_written(
    ledger: Ledger, database_url: str, amount: object
) -> None:
    wallet, biller = await setup(ledger)
    before = await snapshot(database_url)
    with pytest.raises(InvalidAmount) as err:
        await ledger.reserve(pay_key("T1", "R1"), wallet, biller, amount)  # type: ignore[arg-type]
    assert err.value.code == "invalid_amount"
    with pytest.raises(InvalidAmount):
        await ledger.top_up(wallet, amount, "UTR-2")  # type: ignore[arg-type]
    assert await snapshot(database_url) == before


@pytest.mark.parametrize("key", ["", "x" * 201, "bad\nkey", None, 42])
async def test_bad_keys_are_refused(ledger: Ledger, database_url: str, key: object) -> None:
    wallet, biller = await setup(ledger)
    before = await snapshot(database_url)
    with pytest.raises(InvalidKey):
        await ledger.reserve(key, wallet, biller, 100)  # type: ignore[arg-type]
    assert await snapshot(database_url) == before


async def test_unknown_accounts_are_refused_and_nothing_written(
    ledger: Ledger, database_url: str
) -> None:
    wallet, biller = await setup(ledger)
    before = await snapshot(database_url)
    for debit, credit in [(999_999, biller), (wallet, 999_999), (0, biller), (-5, biller)]:
        with pytest.raises(UnknownAccount) as err:
            await ledger.reserve(pay_key("T1", f"R{debit}{credit}"), debit, credit, 100)
        assert err.value.code == "unknown_account"
    with pytest.raises(UnknownAccount):
        await ledger.top_up(999_999, 100, "UTR-9")
    with pytest.raises(UnknownAccount):
        await ledger.account(999_999)
    assert await snapshot(database_url) == before


async def test_resolving_an_unknown_transfer_is_refused(ledger: Ledger, database_url: str) -> None:
    await setup(ledger)
    before = await snapshot(database_url)
    with pytest.raises(UnknownTransfer):
        await ledger.post(pay_key("T1", "never-reserved"))
    with pytest.raises(UnknownTransfer):
        await ledger.void(pay_key("T1", "never-reserved"))
    assert await snapshot(database_url) == before


async def test_a_one_phase_transfer_cannot_be_posted_or_voided(ledger: Ledger) -> None:
    wallet, _ = await setup(ledger)
    with pytest.raises(LedgerError) as err:
        await ledger.void("topup:UTR-1")
    assert err.value.code == "already_resolved"
    assert await ledger.balance(wallet) == 1000_00


async def test_account_code_reused_with_another_kind_is_refused(ledger: Ledger) -> None:
    await ledger.open_account(AccountKind.WALLET, "wallet:x", "X")
    again = await ledger.open_account(AccountKind.WALLET, "wallet:x", "X")
    assert again.kind is AccountKind.WALLET
    with pytest.raises(LedgerError):
        await ledger.open_account(AccountKind.BILLER, "wallet:x", "X")


async def test_the_database_itself_refuses_an_overdraft(ledger: Ledger, database_url: str) -> None:
    """Python is not the only guard: a direct UPDATE cannot make a wallet negative."""
    wallet, _ = await setup(ledger)
    with pytest.raises(asyncpg.CheckViolationError):
        query(database_url, "UPDATE accounts SET balance_paise = -1 WHERE id = $1", wallet)
    assert await ledger.balance(wallet) == 1000_00


async def test_the_database_refuses_to_rewrite_history(ledger: Ledger, database_url: str) -> None:
    wallet, biller = await setup(ledger)
    hold = await ledger.reserve(pay_key("T1", "R1"), wallet, biller, 100_00)
    await ledger.post(hold.key)
    statements = [
        ("UPDATE transfers SET amount_paise = 1 WHERE id = $1", hold.id),
        ("UPDATE transfers SET state = 3, resolved_at = now() WHERE id = $1", hold.id),
        ("DELETE FROM transfers WHERE id = $1", hold.id),
        ("DELETE FROM accounts WHERE id = $1", wallet),
        ("UPDATE accounts SET kind = 'funding', may_go_negative = true WHERE id = $1", wallet),
    ]
    for sql, arg in statements:
        with pytest.raises(asyncpg.PostgresError):
            query(database_url, sql, arg)
    assert await ledger.balance(biller) == 100_00
