"""The invariant checker finds broken books, and `switch ledger check` says so."""

from __future__ import annotations

import os
import subprocess
import sys

from switch.ledger import AccountKind, Ledger, pay_key
from tests.helpers import query


def run_check(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCH_DATABASE_URL": database_url, "SWITCH_REDIS_URL": "redis://unused"}
    return subprocess.run(
        [sys.executable, "-m", "switch", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_check_passes_on_healthy_books(ledger: Ledger, database_url: str) -> None:
    wallet = await ledger.open_account(AccountKind.WALLET, "wallet:a", "A")
    biller = await ledger.open_account(AccountKind.BILLER, "biller:b", "B")
    await ledger.top_up(wallet.id, 500_00, "UTR-1")
    await ledger.reserve(pay_key("T", "1"), wallet.id, biller.id, 100_00)
    posted = await ledger.reserve(pay_key("T", "2"), wallet.id, biller.id, 100_00)
    await ledger.post(posted.key)
    assert await ledger.check_invariants() == []
    done = run_check(database_url)
    assert done.returncode == 0, done.stderr
    assert "all invariants hold" in done.stdout


async def test_check_finds_tampered_balances(ledger: Ledger, database_url: str) -> None:
    wallet = await ledger.open_account(AccountKind.WALLET, "wallet:a", "A")
    await ledger.top_up(wallet.id, 500_00, "UTR-1")
    # Someone edits a balance behind the ledger's back (triggers do not stop this one:
    # balances change all the time; the journal is what catches it).
    query(
        database_url,
        "UPDATE accounts SET balance_paise = balance_paise + 1 WHERE id = $1",
        wallet.id,
    )
    violations = await ledger.check_invariants()
    assert any("sum of all balances is 1 paise" in v for v in violations)
    assert any("wallet:a" in v and "journal" in v for v in violations)
    done = run_check(database_url)
    assert done.returncode == 1
    assert "violation" in done.stderr and "wallet:a" in done.stderr
    # Put it back so the fixture's own check passes.
    query(
        database_url,
        "UPDATE accounts SET balance_paise = balance_paise - 1 WHERE id = $1",
        wallet.id,
    )


async def test_check_finds_a_stuck_pending_transfer(ledger: Ledger, database_url: str) -> None:
    wallet = await ledger.open_account(AccountKind.WALLET, "wallet:a", "A")
    biller = await ledger.open_account(AccountKind.BILLER, "biller:b", "B")
    await ledger.top_up(wallet.id, 500_00, "UTR-1")
    hold = await ledger.reserve(pay_key("T", "1"), wallet.id, biller.id, 100_00)
    # Pretend it has been pending for an hour past its deadline (the sweeper would
    # void it on its next pass, so look before it does).
    query(database_url, "ALTER TABLE transfers DISABLE TRIGGER transfers_immutable")
    query(
        database_url,
        "UPDATE transfers SET expires_at = now() - interval '1 hour' WHERE id = $1",
        hold.id,
    )
    query(database_url, "ALTER TABLE transfers ENABLE TRIGGER transfers_immutable")
    violations = await ledger.check_invariants(grace_s=60)
    # Either we looked first, or the sweeper already voided it; both are fine ends.
    if violations:
        assert any("still pending" in v and hold.key in v for v in violations)
    assert await ledger.expire_overdue() in (0, 1)
    assert await ledger.check_invariants() == []
    assert await ledger.balance(wallet.id) == 500_00
