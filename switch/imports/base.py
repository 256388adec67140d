"""What every kind of import file shares: the context a chunk is written in, the
entity's description (its fields, checks and writer), and the outcomes of a row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switch.db import Connection
from switch.imports.mapping import Mapping

WRITTEN, PRESENT = "written", "present"


@dataclass(frozen=True)
class Context:
    """What a chunk's writing needs to know of its run."""

    run_id: int
    actor: str
    approved: bool  # agents: imported as approved (a migration), else pending_kyc
    migration_account_id: int
    default_ceiling_paise: int  # a wallet without limits of its own ([admin])
    billers: frozenset[str] = frozenset()  # this switch's billers (consumers must name one)
    complaint_tat_s: float = 48 * 3600.0  # an imported complaint's answer is due after this
    # Terminals: where their credentials files go, and what the files name.
    credentials_dir: Path | None = None
    switch_public_key: bytes = b""
    terminal_address: str = ""

    @property
    def basis(self) -> str:
        return f"import:{self.run_id}"


Outcome = str  # WRITTEN, PRESENT, or a rejection's reason ("column: why")
Writer = Callable[[Connection, Sequence[tuple[int, Any]], Context], Awaitable[list[Outcome]]]


@dataclass(frozen=True)
class Entity:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[dict[str, str], Mapping], Any]  # raises FieldError
    amount: Callable[[Any], int] | None  # the row's money, for the control total
    write: Writer
    money: bool = False  # the import is refused without declared control totals

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


def get(row: dict[str, str], m: Mapping, name: str) -> str:
    return row.get(m.column(name), "")


async def wallets(conn: Connection, refs: list[str]) -> dict[str, Any]:
    """Agents by id or legacy reference: their id, wallet and state."""
    found = await conn.fetch(
        """SELECT id, legacy_ref, wallet_account_id, state, kind FROM agents
            WHERE id = ANY($1) OR legacy_ref = ANY($1)""",
        refs,
    )
    by_ref = {r["id"]: r for r in found}
    by_ref |= {r["legacy_ref"]: r for r in found if r["legacy_ref"]}
    return by_ref
