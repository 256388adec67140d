"""The settlement file of one biller's window: CSV, and a SHA-256 checksum beside it.

Format (docs/settlement.md has the full field list). The first column names the
record; every amount is an integer number of paise; times are ISO 8601 in IST.

    H,<biller>,<business date>,<window start>,<window end>,<pay count>,<gross>,
      <adjust in>,<commission>,<fee>,<recovered>,<net>
    D,<switch txn id>,<biller txn id>,<terminal>,<terminal ref>,<agent>,<consumer>,
      <amount>,<commission>,<fee>,<paid at>,<channel>

(A partner's pay names the partner as terminal and agent, its idempotency key as
the terminal ref, and ``partner`` as its channel; a terminal's says ``terminal``.)
    A,<case id>,<kind>,<switch txn id>,<biller txn id>,<amount>
    T,<D lines>,<sum of D amounts>,<A lines>,<sum of A amounts>

``<name>.sha256`` holds ``<hex digest>  <name>`` (``sha256sum -c`` reads it). The file
is a pure function of the closed window's rows, so writing it again gives the same
bytes and the same digest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from switch.settlement.calendar import IST
from switch.settlement.store import WindowRow

HEADER_COLUMNS = (
    "record,biller,business_date,window_start,window_end,pay_count,gross_paise,"
    "adjust_in_paise,commission_paise,fee_paise,recovered_paise,net_paise"
)


def file_name(w: WindowRow) -> str:
    return f"{w.biller_id}_{w.business_date.isoformat()}.csv"


def render(w: WindowRow, items: Sequence[Any], adjustments: Sequence[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "H",
            w.biller_id,
            w.business_date.isoformat(),
            w.starts_at.astimezone(IST).isoformat(),
            w.ends_at.astimezone(IST).isoformat(),
            w.pay_count,
            w.gross_paise,
            w.adjust_in_paise,
            w.commission_paise,
            w.fee_paise,
            w.recovered_paise,
            w.net_paise,
        ]
    )
    for i in items:
        writer.writerow(
            [
                "D",
                i["pay_id"],
                i["biller_txn_id"] or "",
                i["terminal_id"],
                i["terminal_ref"],
                i["agent_id"],
                i["consumer_account"],
                i["amount_paise"],
                i["commission_paise"],
                i["fee_paise"],
                i["created_at"].astimezone(IST).isoformat(timespec="milliseconds"),
                i["channel"],
            ]
        )
    for a in adjustments:
        writer.writerow(
            [
                "A",
                a["case_id"],
                a["kind"],
                a["pay_id"] or "",
                a["biller_txn_id"] or "",
                a["amount_paise"],
            ]
        )
    writer.writerow(
        [
            "T",
            len(items),
            sum(i["amount_paise"] for i in items),
            len(adjustments),
            sum(a["amount_paise"] for a in adjustments),
        ]
    )
    return out.getvalue().encode("utf-8")


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write(directory: Path, w: WindowRow, content: bytes) -> Path:
    """Write the file and its checksum atomically (temp file, fsync, rename)."""
    target = directory / w.biller_id / file_name(w)
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(target, content)
    _atomic_write(
        target.with_name(target.name + ".sha256"),
        f"{digest(content)}  {target.name}\n".encode("ascii"),
    )
    return target


def verify(path: Path) -> bool:
    """The file matches the digest written beside it."""
    checksum = path.with_name(path.name + ".sha256")
    if not path.exists() or not checksum.exists():
        return False
    expected = checksum.read_text(encoding="ascii").split()[0]
    return digest(path.read_bytes()) == expected


def _atomic_write(path: Path, content: bytes) -> None:
    # A name of its own: two processes writing the same (identical) file must not
    # rename each other's temp file away.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
