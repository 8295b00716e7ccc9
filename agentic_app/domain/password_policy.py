"""Which new passwords are accepted: long enough, not one of the most common, not the name.

The common-password list is zxcvbn's ``passwords`` frequency list (the 30,000 most used
passwords of public leaks), compared case-insensitively. The seeded local-mode demo
account is the one exception (its password comes from DEMO_PASSWORD, see services/demo).
"""

from __future__ import annotations

from functools import lru_cache

MIN_PASSWORD_LENGTH = 10
"""Shortest password a new account may have."""
MAX_PASSWORD_LENGTH = 1024
"""Longest password accepted (hashing cost grows with it)."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The most common passwords, lower case (loaded once, on first use)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why ``password`` is refused for a new account, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must be at most {MAX_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    if lowered in common_passwords():
        return "password is one of the most common passwords; choose another"
    if username and lowered == username.lower():
        return "password must not be the username"
    return None
