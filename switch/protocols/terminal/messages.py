"""Message bodies: msgpack maps with string keys, and the schema of every type.

Encoding is canonical (keys sorted, shortest integer forms, bin for bytes, str for
text) so worked examples reproduce byte for byte. Decoding is strict: a map with
string keys at the top, no extension types, bounded sizes. Unknown fields are
ignored so a newer terminal can add optional ones; missing or mistyped known fields
are ``invalid_request``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from switch.protocols.terminal.errors import ErrorCode, ProtocolError
from switch.protocols.terminal.framing import MAX_FRAME_BYTES

PROTOCOL_VERSION = 1
UINT32_MAX = 2**32 - 1
MAX_AMOUNT_PAISE = 10_000_000_00

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
ACCOUNT_RE = re.compile(r"[A-Za-z0-9/_-]{1,32}")
MOBILE_RE = re.compile(r"[6-9][0-9]{9}")
VERSION_RE = re.compile(r"[0-9a-f]{16}")
PARAM_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
PARAM_VALUE_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")  # printable, 1-64 characters
BILL_REF_RE = re.compile(r"v1\.[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{22}")
MAX_PARAMS = 4
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def encode(msg: Mapping[str, Any]) -> bytes:
    """Canonical msgpack: keys sorted."""
    packed: bytes = msgpack.packb(dict(sorted(msg.items())), use_bin_type=True)
    return packed


def decode(body: bytes) -> dict[str, Any]:
    """A msgpack map with str keys, or ``malformed_frame``."""
    try:
        value = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=MAX_FRAME_BYTES,
            max_bin_len=MAX_FRAME_BYTES,
            max_array_len=1024,
            max_map_len=64,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises a zoo of types for bad input
        raise ProtocolError(
            ErrorCode.MALFORMED_FRAME, f"not msgpack: {type(exc).__name__}"
        ) from exc
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "body is not a map")
    return value


# -- field checkers: each returns the value or raises invalid_request -------------------

Check = Callable[[str, Any], Any]


def _bad(name: str, why: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_REQUEST, f"field {name!r} {why}")


def uint(limit: int = UINT32_MAX, low: int = 0) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= limit:
            raise _bad(name, f"must be an integer in {low}..{limit}")
        return v

    return check


def text(pattern: re.Pattern[str], what: str) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, str) or not pattern.fullmatch(v):
            raise _bad(name, f"must be {what}")
        return v

    return check


def binary(size: int) -> Check:
    def check(name: str, v: Any) -> Any:
        if not isinstance(v, bytes) or len(v) != size:
            raise _bad(name, f"must be {size} bytes")
        return v

    return check


FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def date(name: str, v: Any) -> Any:
    """A calendar date YYYY-MM-DD in 2000..2099 (the switch's records lie there; the
    bound keeps day arithmetic away from the calendar's ends)."""
    if not isinstance(v, str) or not DATE_RE.fullmatch(v):
        raise _bad(name, "must be a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(v)
    except ValueError as exc:
        raise _bad(name, "is not a real date") from exc
    if not FIRST_DATE <= day <= LAST_DATE:
        raise _bad(name, f"must be between {FIRST_DATE} and {LAST_DATE}")
    return day


@dataclass(frozen=True)
class Schema:
    required: dict[str, Check]
    optional: dict[str, Check]

    def validate(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, check in self.required.items():
            if name not in msg:
                raise _bad(name, "is missing")
            out[name] = check(name, msg[name])
        for name, check in self.optional.items():
            if name in msg and msg[name] is not None:
                out[name] = check(name, msg[name])
        return out


RID = uint()
TERMINAL_ID = text(ID_RE, "1-32 of A-Z a-z 0-9 _ -")
REF = text(ID_RE, "1-32 of A-Z a-z 0-9 _ -")
BILLER = text(ID_RE, "a biller id (1-32 of A-Z a-z 0-9 _ -)")
ACCOUNT = text(ACCOUNT_RE, "1-32 of A-Z a-z 0-9 / _ -")
MOBILE = text(MOBILE_RE, "a 10-digit Indian mobile number")
VERSION = text(VERSION_RE, "a catalogue version (16 hex digits)")
BILL_REF = text(BILL_REF_RE, "a bill reference from a fetch_bill answer")


def params(name: str, v: Any) -> Any:
    """A consumer's parameters beyond the account: {name: value}, at most 4; each
    value is checked against the biller's catalogue entry later."""
    if not isinstance(v, Mapping) or len(v) > MAX_PARAMS:
        raise _bad(name, f"must be a map of at most {MAX_PARAMS} parameters")
    for key, value in v.items():
        if not isinstance(key, str) or not PARAM_NAME_RE.fullmatch(key):
            raise _bad(name, "names must be a-z 0-9 _ (1-32, a letter first)")
        if not isinstance(value, str) or not PARAM_VALUE_RE.fullmatch(value):
            raise _bad(f"{name}.{key}", "must be printable text of 1-64 characters")
    return dict(v)


# Handshake messages (before keys exist).
HELLO = Schema({"v": uint(255), "tid": TERMINAL_ID, "eph": binary(32)}, {})
SERVER_HELLO = Schema(
    {
        "v": uint(255),
        "eph": binary(32),
        "sig": binary(64),
        "hb_s": uint(3600),
        "max_in_flight": uint(1024),
        "max_frame": uint(MAX_FRAME_BYTES),
    },
    {},
)
AUTH = Schema({"sig": binary(64)}, {})

# Requests a terminal may send once the session is open, and what each carries.
REQUESTS: dict[str, Schema] = {
    "ping": Schema({}, {}),
    "bye": Schema({}, {}),
    "fetch_bill": Schema({"rid": RID, "biller": BILLER, "account": ACCOUNT}, {"params": params}),
    "pay": Schema(
        {
            "rid": RID,
            "ref": REF,
            "biller": BILLER,
            "account": ACCOUNT,
            "amount_paise": uint(MAX_AMOUNT_PAISE, low=1),
        },
        {"mobile": MOBILE, "params": params, "bill_ref": BILL_REF},
    ),
    "status": Schema({"rid": RID, "ref": REF}, {}),
    "catalogue": Schema({"rid": RID}, {"version": VERSION}),
    "list_payments": Schema(
        {"rid": RID, "from": date, "to": date},
        {"limit": uint(100, low=1), "after": uint(2**63 - 1)},
    ),
    "summary": Schema({"rid": RID, "from": date, "to": date}, {}),
}
