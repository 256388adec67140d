"""A partner pays 1,000 bills at once, a share of them sent twice at once and every
503 retried with the same Idempotency-Key: exactly 1,000 pays, 1,000 debits of its
prefund, and books that agree with the biller's."""

from __future__ import annotations

from simulators.partner.load import run_load
from switch.protocols.billers.stub import StubConnector, stub_amount_paise
from tests.admin.conftest import Admin
from tests.partners.conftest import balance, onboard

PAYS = 1000
# Ten digits ending in 1: none ends in 99 (the stub biller rejects those).
CONSUMERS = [("UPPCL", f"{5_000_000_001 + 10 * n}") for n in range(PAYS)]
PREFUND_PAISE = 60_00_000_00  # ₹60 lakh: more than 1,000 of the stub's bills


async def test_a_thousand_concurrent_pays_with_retries_debit_exactly_once(admin: Admin) -> None:
    assert not any(a.endswith("99") for _, a in CONSUMERS)
    partner = await onboard(admin, paise=PREFUND_PAISE)
    async with partner.client as client:
        result = await run_load(
            client, CONSUMERS, pays=PAYS, concurrency=64, duplicate_share=0.2, key_prefix="B"
        )
    summary = result.summary()
    assert (result.pays, result.success, result.mismatched) == (PAYS, PAYS, []), summary
    assert result.duplicates > 100, summary  # the races really happened
    expected_paise = sum(stub_amount_paise(a) for _, a in CONSUMERS)
    assert result.amount_paise == expected_paise
    sw = admin.sw
    pays = await sw.db.fetch(
        "SELECT terminal_ref, state, amount_paise FROM pays WHERE agent_id = $1", partner.id
    )
    assert len(pays) == PAYS and {p["state"] for p in pays} == {"posted"}
    assert {p["terminal_ref"] for p in pays} == set(result.txn_by_key)
    debits = await sw.db.fetchval(
        """SELECT count(*) FROM transfers WHERE debit_account_id =
               (SELECT wallet_account_id FROM agents WHERE id = $1) AND state = 2""",
        partner.id,
    )
    assert debits == PAYS
    assert await balance(sw, partner.id) == PREFUND_PAISE - expected_paise
    biller = sw.billers["UPPCL"].connector.connector  # the stub behind its actor
    assert isinstance(biller, StubConnector)
    applied = {p.switch_txn_id: p.amount_paise for p in biller.applied.values()}
    assert sorted(applied) == sorted(result.txn_by_key.values())
    assert sum(applied.values()) == expected_paise  # switch posted = biller applied
