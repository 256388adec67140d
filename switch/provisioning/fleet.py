"""Provision many agents and terminals at once (the demo, load tests and tests)."""

from __future__ import annotations

from pathlib import Path

from switch.db.database import Database
from switch.ledger import Ledger
from switch.provisioning.credentials import Credentials
from switch.provisioning.store import add_agent, add_terminal

# Where the simulated fleet's shops are (MIS reports by region and district).
DISTRICTS = (
    ("Purvanchal", "Varanasi"),
    ("Purvanchal", "Mau"),
    ("Purvanchal", "Ghazipur"),
    ("Madhyanchal", "Lucknow"),
    ("Madhyanchal", "Barabanki"),
    ("Paschimanchal", "Meerut"),
)


async def provision_fleet(
    db: Database,
    ledger: Ledger,
    identity_public_key: bytes,
    address: str,
    *,
    agents: int,
    terminals_per_agent: int = 1,
    wallet_paise: int = 0,
    prefix: str = "FPS",
    out_dir: Path | None = None,
) -> list[Credentials]:
    """Agents with funded wallets, each with terminals; credentials returned (and written)."""
    issued: list[Credentials] = []
    for n in range(agents):
        region, district = DISTRICTS[n % len(DISTRICTS)]
        agent = await add_agent(
            db,
            ledger,
            f"Agent {prefix}-{n}",
            f"9{n % 10**9:09d}",
            f"{prefix}-{n}",
            region=region,
            district=district,
        )
        if wallet_paise:
            await ledger.top_up(agent.wallet_account_id, wallet_paise, f"{prefix}-fund-{agent.id}")
        for _ in range(terminals_per_agent):
            terminal, key = await add_terminal(db, agent.id)
            creds = Credentials.issue(terminal.id, agent.id, key, identity_public_key, address)
            if out_dir is not None:
                creds.write(out_dir / f"{terminal.id}.json")
            issued.append(creds)
    return issued
