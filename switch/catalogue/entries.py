"""The biller catalogue in the shape a terminal reads (docs/protocol.md, ``catalogue``).

Built once from the ``[[billers]]`` configuration. Each entry says what a terminal
must ask the consumer (the customer parameters, with labels in English and Hindi and
the pattern each value must match), whether a pay must follow a fetch of the bill,
how much may be paid (exactly the bill; part of it from ₹1; or up to a cap above it)
and through which channels.

The catalogue's version is a digest of its content, so it changes exactly when an
entry does. A terminal that sends the version it holds is told ``unchanged`` (no
entries): a terminal on a GPRS link pays for every byte, and asks at every start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switch.config import BillerConfig

MIN_PAY_PAISE = 100  # ₹1: the least any pay may be
VERSION_CHARS = 16


@dataclass(frozen=True)
class Catalogue:
    version: str
    entries: tuple[dict[str, Any], ...]
    billers: Mapping[str, BillerConfig]  # by id: the rules behind each entry

    def answer(self, known_version: str | None) -> dict[str, Any]:
        """The ``catalogue`` answer: the entries, or none if the terminal has them."""
        body: dict[str, Any] = {"type": "catalogue", "version": self.version}
        if known_version != self.version:
            body["billers"] = [dict(e) for e in self.entries]
        return body


def entry(biller: BillerConfig) -> dict[str, Any]:
    return {
        "id": biller.id,
        "name": biller.name,
        "category": biller.kind,
        "region": biller.region,
        "params": [
            {
                "name": p.name,
                "label_en": p.label_en,
                "label_hi": p.label_hi,
                "regex": p.regex,
                "required": p.required,
            }
            for p in biller.params
        ],
        "fetch_required": biller.fetch_required,
        "amount": {
            "rule": biller.amount_rule,
            "min_paise": MIN_PAY_PAISE,
            "advance_cap_paise": biller.advance_cap_paise,
        },
        "channels": list(biller.channels),
    }


def build(billers: Sequence[BillerConfig]) -> Catalogue:
    entries = tuple(entry(b) for b in sorted(billers, key=lambda b: b.id))
    canonical = json.dumps(entries, sort_keys=True, ensure_ascii=False).encode()
    version = hashlib.sha256(canonical).hexdigest()[:VERSION_CHARS]
    return Catalogue(version, entries, {b.id: b for b in billers})
