"""A consumer's customer parameters, checked against the biller's catalogue entry
before anything reaches the biller: the consumer account (the first parameter,
carried as ``account``) and the others by name (``params``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from switch.config import BillerConfig


class BadParams(Exception):
    """A parameter is unknown, missing, or does not match its pattern: the message
    names it, for the terminal to show."""


def check(biller: BillerConfig, account: str, params: Mapping[str, str]) -> dict[str, str]:
    """The parameters beyond the account, checked: every one known to this biller,
    every required one present, each whole value matching its pattern."""
    first, *others = biller.params
    if not re.fullmatch(first.regex, account):
        raise BadParams(f"account: {first.label_en} must match {first.regex}")
    known = {p.name for p in others}
    unknown = sorted(set(params) - known)
    if unknown:
        raise BadParams(f"params: {biller.id} takes no {', '.join(unknown)}")
    for p in others:
        value = params.get(p.name)
        if value is None:
            if p.required:
                raise BadParams(f"params.{p.name}: {p.label_en} is required")
            continue
        if not re.fullmatch(p.regex, value):
            raise BadParams(f"params.{p.name}: {p.label_en} must match {p.regex}")
    return {p.name: params[p.name] for p in others if p.name in params}


def digest(account: str, params: Mapping[str, str]) -> bytes:
    """Eight bytes that name the consumer: the account and the other parameters."""
    canonical = "\x1f".join([account, *(f"{k}={params[k]}" for k in sorted(params))])
    return hashlib.sha256(canonical.encode()).digest()[:8]
