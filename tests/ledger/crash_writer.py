"""A ledger client that streams batches and prints every acknowledgment.

Run by test_crash.py as a subprocess and SIGKILLed mid-stream:
    python -m tests.ledger.crash_writer DATABASE_URL
Prints "ACK <key> <state>" (flushed) the moment the ledger confirms a request.
"""

from __future__ import annotations

import sys

import trio

from switch.ledger import AccountKind, InsufficientFunds, Ledger, pay_key


async def main(url: str) -> None:
    async with Ledger.open(url) as ledger:
        biller = await ledger.open_account(AccountKind.BILLER, "biller:crash", "Crash biller")
        wallets = await ledger.open_accounts(
            AccountKind.WALLET, [(f"wallet:crash:{i}", f"agent {i}") for i in range(50)]
        )

        def ack(key: str, state: str) -> None:
            sys.stdout.write(f"ACK {key} {state}\n")
            sys.stdout.flush()

        async def worker(n: int) -> None:
            wallet = wallets[n % len(wallets)].id
            for i in range(1_000_000):
                bank_ref = f"crash-{n}-{i}"
                t = await ledger.top_up(wallet, 100_00, bank_ref)
                ack(t.key, t.state.name)
                key = pay_key(f"T{n}", str(i))
                try:
                    held = await ledger.reserve(key, wallet, biller.id, 60_00, timeout_s=3600)
                except InsufficientFunds:
                    continue
                ack(key, held.state.name)
                done = await (ledger.post(key) if i % 3 else ledger.void(key))
                ack(key, done.state.name)

        async with trio.open_nursery() as nursery:
            for n in range(100):
                nursery.start_soon(worker, n)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
