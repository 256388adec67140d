"""The rule every staff and agent password keeps (checked where one is set: the API's
bodies, the command line, a reset)."""

from __future__ import annotations

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 128


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    if password.isdigit() or password.isalpha():
        raise ValueError("a password mixes letters with digits or symbols")
    return password
