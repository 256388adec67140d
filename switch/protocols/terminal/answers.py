"""The schema of every answer the switch sends a terminal, as strict as the requests'.

Requests are checked on the way in (``messages.REQUESTS``); answers are checked on
the way out, by the session actor, before they are sealed: an answer with a field
the protocol does not define, a field missing, or a value out of its range is a bug
of ours, logged and sent as ``internal_error`` instead. docs/protocol.md's answer
table is generated from these schemas (``switch/protocols/terminal/docs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switch.pays.machine import TERMINAL_FAILURE_CODES
from switch.pays.states import PayState
from switch.protocols.terminal.errors import ERRORS, ErrorCode, ProtocolError
from switch.protocols.terminal.messages import (
    ACCOUNT,
    BILL_REF,
    BILLER,
    MAX_AMOUNT_PAISE,
    MOBILE,
    REF,
    RID,
    TERMINAL_ID,
    VERSION,
    Check,
    date,
    uint,
)

MAX_MESSAGE_CHARS = 300  # an error's message (longer ones are cut: ``error_body``)
TXN = uint(2**63 - 1, low=1)
PAISE = uint(2**63 - 1)
COUNT = uint(2**63 - 1)
TIME_MS = uint(2**63 - 1)


def _bad(name: str, why: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INTERNAL_ERROR, f"answer field {name!r} {why}")


def one_of(values: frozenset[str], what: str = "") -> Check:
    def check(name: str, v: Any) -> Any:
        if v not in values:
            raise _bad(name, f"must be one of {sorted(values)}")
        return v

    check.what = what or ", ".join(f"`{v}`" for v in sorted(values))  # type: ignore[attr-defined]
    return check


def words(max_chars: int) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, str) or len(v) > max_chars:
            raise _bad(name, f"must be text of at most {max_chars} characters")
        return v

    check.what = f"text (at most {max_chars})"  # type: ignore[attr-defined]
    return check


def flag(name: str, v: Any) -> Any:
    if not isinstance(v, bool):
        raise _bad(name, "must be true or false")
    return v


def strings(max_items: int, max_chars: int, what: str) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, list) or len(v) > max_items:
            raise _bad(name, f"must be a list of at most {max_items}")
        for i, item in enumerate(v):
            words(max_chars)(f"{name}[{i}]", item)
        return v

    check.what = what  # type: ignore[attr-defined]
    return check


def nil_or(inner: Check) -> Check:
    def check(name: str, v: Any) -> Any:
        return None if v is None else inner(name, v)

    check.what = f"{describe(inner)}, or nil"  # type: ignore[attr-defined]
    return check


@dataclass(frozen=True)
class Shape:
    """A map whose keys are exactly ``required`` plus any of ``optional``."""

    required: Mapping[str, Check]
    optional: Mapping[str, Check]

    def check(self, where: str, msg: Any) -> Any:
        if not isinstance(msg, Mapping):
            raise _bad(where, "must be a map")
        extra = set(msg) - set(self.required) - set(self.optional) - {"type"}
        if extra:
            raise _bad(where, f"has fields the protocol does not define: {sorted(extra)}")
        for name, check in self.required.items():
            if name not in msg:
                raise _bad(f"{where}.{name}", "is missing")
            check(f"{where}.{name}", msg[name])
        for name, check in self.optional.items():
            if name in msg:
                check(f"{where}.{name}", msg[name])
        return msg


def nested(shape: Shape, what: str) -> Check:
    def check(name: str, v: Any) -> Any:
        return shape.check(name, v)

    check.what = what  # type: ignore[attr-defined]
    return check


def list_of(shape: Shape, max_items: int, what: str) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, list) or len(v) > max_items:
            raise _bad(name, f"must be a list of at most {max_items}")
        for i, item in enumerate(v):
            shape.check(f"{name}[{i}]", item)
        return v

    check.what = what  # type: ignore[attr-defined]
    return check


def map_of(keys: frozenset[str], shape: Shape, what: str) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, Mapping) or not set(v) <= keys:
            raise _bad(name, f"must map some of {sorted(keys)}")
        for key, item in v.items():
            shape.check(f"{name}.{key}", item)
        return v

    check.what = what  # type: ignore[attr-defined]
    return check


def describe(check: Check) -> str:
    """How docs/protocol.md names what a field holds."""
    return str(getattr(check, "what", "")) or _NAMES.get(check, "value")


def date_text(name: str, v: Any) -> Any:
    return date(name, v)


_NAMES: dict[Any, str] = {
    RID: "uint32",
    REF: "text (1-32 of A-Z a-z 0-9 _ -)",
    BILLER: "biller id",
    ACCOUNT: "account (1-32 of A-Z a-z 0-9 / _ -)",
    MOBILE: "10-digit mobile",
    TERMINAL_ID: "terminal id",
    TXN: "txn id (int64)",
    PAISE: "paise (int64)",
    COUNT: "count",
    TIME_MS: "ms since 1970",
    VERSION: "catalogue version (16 hex digits)",
    BILL_REF: "bill reference (text, at most 230)",
    flag: "true or false",
    date_text: "date YYYY-MM-DD",
}

RECEIPT = Shape(
    {
        "txn": TXN,
        "biller_txn": nil_or(words(64)),
        "ref": REF,
        "biller": BILLER,
        "account": ACCOUNT,
        "amount_paise": uint(MAX_AMOUNT_PAISE, low=1),
        "time_ms": TIME_MS,
    },
    {},
)
ITEM = Shape(
    {
        "txn": TXN,
        "ref": REF,
        "biller": BILLER,
        "account": ACCOUNT,
        "amount_paise": uint(MAX_AMOUNT_PAISE, low=1),
        "state": one_of(frozenset(s.value for s in PayState)),
        "time_ms": TIME_MS,
    },
    {},
)
TOTAL = Shape({"count": COUNT, "amount_paise": PAISE}, {})
PARAM = Shape(
    {
        "name": words(32),
        "label_en": words(64),
        "label_hi": words(64),
        "regex": words(200),
        "required": flag,
    },
    {},
)
AMOUNT = Shape(
    {
        "rule": one_of(frozenset({"exact", "partial", "advance"})),
        "min_paise": PAISE,
        "advance_cap_paise": PAISE,
    },
    {},
)
CATALOGUE_ENTRY = Shape(
    {
        "id": BILLER,
        "name": words(200),
        "category": words(32),
        "region": words(64),
        "params": list_of(PARAM, 4, "list of {name, label_en, label_hi, regex, required}"),
        "fetch_required": flag,
        "amount": nested(AMOUNT, "{rule: exact | partial | advance, min_paise, advance_cap_paise}"),
        "channels": strings(8, 32, "list of channel names"),
    },
    {},
)

ANSWERS: dict[str, Shape] = {
    "welcome": Shape({"terminal": TERMINAL_ID, "agent": TERMINAL_ID, "time_ms": TIME_MS}, {}),
    "pong": Shape({}, {}),
    "bye": Shape({}, {}),
    "error": Shape(
        {
            "code": one_of(frozenset(c.value for c in ERRORS), "an error code (the table above)"),
            "message": words(MAX_MESSAGE_CHARS),
        },
        {"rid": nil_or(RID)},
    ),
    "bill": Shape(
        {
            "rid": RID,
            "biller": BILLER,
            "account": ACCOUNT,
            "name": words(200),
            "amount_paise": PAISE,
            "due_date": date_text,
            "bill_number": words(64),
        },
        {"mobile": nil_or(MOBILE), "bill_ref": BILL_REF},
    ),
    "pay_result": Shape(
        {
            "rid": RID,
            "ref": REF,
            "txn": TXN,
            "status": one_of(frozenset({"success", "failed", "pending"})),
        },
        {
            "receipt": nested(RECEIPT, "receipt (with `success`)"),
            "code": one_of(TERMINAL_FAILURE_CODES),
            "biller_code": words(64),
        },
    ),
    "payments": Shape(
        {"rid": RID, "items": list_of(ITEM, 100, "list of payments"), "next_after": nil_or(TXN)},
        {},
    ),
    "catalogue": Shape(
        {"rid": RID, "version": VERSION},
        {"billers": list_of(CATALOGUE_ENTRY, 256, "list of billers (absent: unchanged)")},
    ),
    "summary": Shape(
        {
            "rid": RID,
            "from": date_text,
            "to": date_text,
            "count": COUNT,
            "paid_count": COUNT,
            "paid_amount_paise": PAISE,
            "by_state": map_of(
                frozenset(s.value for s in PayState), TOTAL, "{state: {count, amount_paise}}"
            ),
        },
        {},
    ),
}


def check_answer(body: Mapping[str, Any]) -> None:
    """Raise ``ProtocolError(internal_error)`` unless ``body`` is an answer the protocol
    defines, exactly."""
    kind = body.get("type")
    shape = ANSWERS.get(kind) if isinstance(kind, str) else None
    if shape is None:
        raise _bad("type", f"{kind!r} is not an answer type")
    shape.check(str(kind), body)
    if kind == "pay_result":
        _check_pay_result(body)


def _check_pay_result(body: Mapping[str, Any]) -> None:
    """The status says which of the optional fields come with it."""
    status = body["status"]
    if ("receipt" in body) != (status == "success"):
        raise _bad("pay_result.receipt", "comes with `success` and only with it")
    if ("code" in body) != (status == "failed"):
        raise _bad("pay_result.code", "comes with `failed` and only with it")
    if "biller_code" in body and body.get("code") != "biller_rejected":
        raise _bad("pay_result.biller_code", "comes only with `biller_rejected`")


def answer_table() -> str:
    """docs/protocol.md's table of answers and their fields."""
    rows = ["| answer | field | holds | |", "|---|---|---|---|"]
    for kind, shape in ANSWERS.items():
        fields = [(n, c, "") for n, c in shape.required.items()]
        fields += [(n, c, "optional") for n, c in shape.optional.items()]
        if not fields:
            rows.append(f"| `{kind}` | | | |")
        for i, (name, check, note) in enumerate(fields):
            rows.append(
                f"| {f'`{kind}`' if i == 0 else ''} | `{name}` | {describe(check)} | {note} |"
            )
    return "\n".join(rows) + "\n"
