"""KYC field rules of an agent's application, pure: each returns the field's normal form or raises
``ValueError`` with the message an operator sees next to the field.

PAN: 5 letters, 4 digits, a letter (the 4th letter says who holds it; P for a person).
IFSC: 4 letters (the bank), 0, then 6 letters or digits (the branch).
GSTIN: 2-digit state code, the holder's PAN, entity number, Z, check character
(mod-36 checksum, verified here so a typo is caught at entry).
Mobile: an Indian mobile number, 10 digits starting 6-9 (a +91 or 0 prefix is
accepted and dropped). Age: 18 or over on the day of entry.
Email: what email-validator accepts (no deliverability check; the domain lower-cased,
an international one in its Unicode form). The plain addresses nearly everyone has
(ASCII letters, digits, ``. _ + -`` before the @, ordinary ASCII labels after it, a
top-level domain of letters, no special-use domain) are decided here directly, in a
microsecond instead of thirty: a bulk import of 100,000 agents spends most of its
checking on them otherwise. Anything else goes to email-validator, which decides.
A test holds the two to the same answer on every address the short way accepts.
"""

from __future__ import annotations

import datetime as dt
import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import ValidationError
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

PAN_RE = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
IFSC_RE = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
GSTIN_RE = re.compile(r"[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]")
MOBILE_RE = re.compile(r"[6-9][0-9]{9}")
BANK_ACCOUNT_RE = re.compile(r"[0-9]{9,18}")
FPS_RE = re.compile(r"[A-Za-z0-9/_-]{1,32}")
GST_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MIN_AGE_YEARS = 18
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
PLAIN_EMAIL_RE = re.compile(
    rf"([A-Za-z0-9_+-]{{1,64}}(?:\.[A-Za-z0-9_+-]{{1,64}})*)@((?:{_LABEL}\.)+[a-z]{{2,63}})",
    re.IGNORECASE,
)
_SPECIAL_SUFFIXES = tuple(f".{d}" for d in SPECIAL_USE_DOMAIN_NAMES)


def pan(value: str) -> str:
    value = value.strip().upper()
    if not PAN_RE.fullmatch(value):
        raise ValueError("PAN must be 5 letters, 4 digits and a letter, like ABCPE1234F")
    return value


def ifsc(value: str) -> str:
    value = value.strip().upper()
    if not IFSC_RE.fullmatch(value):
        raise ValueError("IFSC must be 4 letters, a zero, then 6 letters or digits")
    return value


def gstin(value: str) -> str:
    value = value.strip().upper()
    if not GSTIN_RE.fullmatch(value):
        raise ValueError("GSTIN must be 15 characters: state code, PAN, entity, Z, check")
    if gstin_check_char(value[:14]) != value[14]:
        raise ValueError("GSTIN check character does not match (a typo?)")
    return value


def gstin_check_char(first14: str) -> str:
    """The GSTIN's 15th character: a Luhn mod-36 checksum of the first 14."""
    total = 0
    for i, char in enumerate(first14):
        product = GST_CHARS.index(char) * (2 if i % 2 else 1)
        total += product // 36 + product % 36
    return GST_CHARS[(36 - total % 36) % 36]


def mobile(value: str) -> str:
    value = re.sub(r"[\s-]", "", value)
    if value.startswith("+91"):
        value = value[3:]
    elif value.startswith("0") and len(value) == 11:
        value = value[1:]
    if not MOBILE_RE.fullmatch(value):
        raise ValueError("mobile must be a 10-digit Indian mobile number starting 6-9")
    return value


def bank_account(value: str) -> str:
    value = value.strip()
    if not BANK_ACCOUNT_RE.fullmatch(value):
        raise ValueError("bank account must be 9 to 18 digits")
    return value


def fps_id(value: str) -> str:
    value = value.strip()
    if not FPS_RE.fullmatch(value):
        raise ValueError("FPS id must be 1-32 of A-Z a-z 0-9 / _ -")
    return value


def adult(date_of_birth: dt.date, today: dt.date | None = None) -> dt.date:
    today = today or dt.date.today()
    if date_of_birth > today:
        raise ValueError("date of birth is in the future")
    birthday_passed = (today.month, today.day) >= (date_of_birth.month, date_of_birth.day)
    age = today.year - date_of_birth.year - (0 if birthday_passed else 1)
    if age < MIN_AGE_YEARS:
        raise ValueError(f"an agent must be at least {MIN_AGE_YEARS} years old")
    if age > 120:
        raise ValueError("date of birth is not plausible")
    return date_of_birth


def email(value: str) -> str:
    """The address in its normal form (see the module's rules)."""
    value = value.strip()
    plain = PLAIN_EMAIL_RE.fullmatch(value)
    if plain is not None:
        local, domain = plain.group(1), plain.group(2).lower()
        if (
            len(local) <= 64
            and len(domain) <= 253
            and len(value) <= 254
            and "--" not in domain  # a punycode label (xn--) is shown in Unicode
            and not f".{domain}".endswith(_SPECIAL_SUFFIXES)
        ):
            return f"{local}@{domain}"
    try:
        return validate_email(value)[1]
    except (PydanticCustomError, ValidationError) as exc:
        raise ValueError(str(exc)) from None
