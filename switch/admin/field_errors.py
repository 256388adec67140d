"""Pydantic's validation errors as the switch shows them: one message per field, named
by its path in the body (the API's ``invalid_request``, the pages beside each field,
an import's rejected row)."""

from __future__ import annotations

from typing import Any


def field_errors(errors: Any) -> dict[str, str]:
    """Pydantic's errors as {field: message}, as the API sends them (the pages show
    each next to its field)."""
    return {field_name(e["loc"]): field_message(e) for e in errors}


def field_name(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def field_message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
