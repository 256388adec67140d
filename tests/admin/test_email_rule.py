"""An agent's email: the short way for plain addresses gives exactly email-validator's
answer, and everything else is email-validator's to decide."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.admin import kyc

# Addresses shaped like the short way's pattern, with the edges it must get right:
# hyphens at label ends, doubled hyphens (punycode), special-use domains, long parts,
# capitals, digits-only labels.
LOCAL = st.from_regex(r"[A-Za-z0-9_+-]{1,70}(\.[A-Za-z0-9_+-]{1,8}){0,2}", fullmatch=True)
LABEL = st.from_regex(r"[A-Za-z0-9-]{1,66}", fullmatch=True)
TLD = st.sampled_from(["in", "IN", "com", "co", "org", "test", "local", "onion", "x", "123"])
LABELS = st.lists(LABEL, min_size=1, max_size=4)
DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), LABELS, TLD)


def _theirs(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _ours(address: str) -> str | None:
    try:
        return kyc.email(address)
    except ValueError:
        return None


@settings(max_examples=600, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_every_address_gets_email_validators_answer(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _ours(address) == _theirs(address), address


@pytest.mark.parametrize(
    ("address", "normal"),
    [
        ("Ram.Kumar@Example.IN", "Ram.Kumar@example.in"),
        ("  s1@shop.co.in ", "s1@shop.co.in"),
        ("a@xn--p1ai.ru", "a@рф.ru"),  # punycode goes the long way and comes back in Unicode
        ("राम@उदाहरण.भारत", "राम@उदाहरण.भारत"),
        ("Ram <ram@example.in>", "ram@example.in"),
    ],
)
def test_normal_forms(address: str, normal: str) -> None:
    assert kyc.email(address) == normal


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("ram-at-example", "@-sign"),
        ("a..b@example.in", "two periods"),
        ("a@b-.in", "hyphen"),
        ("a@example.test", "special-use"),
        ("a@localhost", "period"),
        ("a\x00b@example.in", "invalid"),
    ],
)
def test_refusals_say_why(address: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        kyc.email(address)
