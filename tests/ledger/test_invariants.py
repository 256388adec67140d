"""The invariant checker finds broken books, and `switch ledger check` says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


async def test_check_finds_a_pay_that_disagrees_with_its_hold(
    database_url: str, tmp_path: Path
) -> None:
    """A pay recorded posted whose hold went back to the wallet (money the agent has
    while the biller has it too) is named by the check, and so is its inverse."""
    from switch.db.database import Database
    from switch.pays.states import PayState
    from switch.pays.store import NewPay, PayStore
    from switch.protocols.terminal.crypto import public_bytes
    from switch.provisioning.fleet import provision_fleet
    from switch.provisioning.identity import load_or_create

    key = public_bytes(load_or_create(tmp_path / "switch.key"))
    async with Database.open(database_url, 2) as db, Ledger.open(db) as ledger:
        [creds] = await provision_fleet(
            db, ledger, key, "127.0.0.1:1", agents=1, wallet_paise=1_000_00, prefix="INV"
        )
        wallet_id = await db.fetchval(
            "SELECT wallet_account_id FROM agents WHERE id = $1", creds.agent_id
        )
        biller = await ledger.open_account(AccountKind.BILLER, "biller:UPPCL", "UPPCL")
        store = PayStore(db)
        pays = {}
        for ref, ends in (("P", PayState.POSTED), ("V", PayState.VOIDED)):
            pay, _ = await store.claim(
                NewPay(creds.terminal_id, ref, creds.agent_id, "UPPCL", "1234567890", 100_00)
            )
            hold = await ledger.reserve(
                pay_key(creds.terminal_id, ref), wallet_id, biller.id, 100_00
            )
            await (ledger.void if ends is PayState.POSTED else ledger.post)(hold.key)
            pays[ref] = await store.move(await store.move(pay, PayState.SENT), ends)
        violations = await ledger.check_invariants()
    assert f"pay {pays['P'].id} is posted but its hold is voided" in violations
    assert f"pay {pays['V'].id} is voided but its hold is posted" in violations
    done = run_check(database_url)
    assert done.returncode == 1 and f"pay {pays['P'].id} is posted" in done.stdout + done.stderr
