"""How a legacy file's columns are read: a mapping, in a TOML file, so that an export
with its own column names, encoding, date format and amounts is read without code.

```toml
entity = "agents"            # agents | balances | topups | history | consumers | complaints
encoding = "cp1252"          # utf-8 (the default; a byte-order mark is fine) | cp1252
date_format = "DD/MM/YYYY"   # DD-MM-YYYY (default) | DD/MM/YYYY | YYYY-MM-DD
amounts = "rupees"           # rupees (default: "1,23,456.50") | paise (whole numbers)

[columns]                    # our field = the file's column (only those that differ)
name = "Agent Name"
mobile = "Mobile No."
```

Without a mapping, each field is read from the column of its own name. The fields of
each entity, and which are required, are in ``entities.py``; a file missing a
required field's column is refused before any row is read.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switch.imports.fields import AMOUNT_UNITS, DATE_FORMATS
from switch.imports.sources import ENCODINGS

ENTITIES = ("agents", "balances", "topups", "history", "consumers", "complaints", "terminals")


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    entity: str
    encoding: str = "utf-8"
    date_format: str = "DD-MM-YYYY"
    amounts: str = "rupees"
    columns: dict[str, str] = field(default_factory=dict)  # our field -> their column

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "encoding": self.encoding,
            "date_format": self.date_format,
            "amounts": self.amounts,
            "columns": dict(self.columns),
        }


def default(entity: str) -> Mapping:
    if entity not in ENTITIES:
        raise MappingError(f"entity: one of {', '.join(ENTITIES)}")
    return Mapping(entity)


def load(path: Path, entity: str, fields: tuple[str, ...]) -> Mapping:
    """The mapping in ``path`` for ``entity``, checked against the entity's fields."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: {exc}") from exc
    unknown = set(raw) - {"entity", "encoding", "date_format", "amounts", "columns"}
    if unknown:
        raise MappingError(f"{path}: unknown settings {sorted(unknown)}")
    if raw.get("entity", entity) != entity:
        raise MappingError(f"{path}: a mapping for {raw['entity']}, not {entity}")
    columns = raw.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise MappingError(f"{path}: [columns] maps our field names to column names (text)")
    if set(columns) - set(fields):
        raise MappingError(
            f"{path}: no such field {sorted(set(columns) - set(fields))} for {entity} "
            f"(fields: {', '.join(fields)})"
        )
    mapping = Mapping(
        entity,
        raw.get("encoding", "utf-8"),
        raw.get("date_format", "DD-MM-YYYY"),
        raw.get("amounts", "rupees"),
        dict(columns),
    )
    if mapping.encoding not in ENCODINGS:
        raise MappingError(f"{path}: encoding: one of {', '.join(ENCODINGS)}")
    if mapping.date_format not in DATE_FORMATS:
        raise MappingError(f"{path}: date_format: one of {', '.join(DATE_FORMATS)}")
    if mapping.amounts not in AMOUNT_UNITS:
        raise MappingError(f"{path}: amounts: one of {', '.join(AMOUNT_UNITS)}")
    return mapping
