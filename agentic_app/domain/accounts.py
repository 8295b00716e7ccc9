"""Limits of account names and API token names, for every front end (REST schemas, the UI's
inputs, the CLI and the services all take them from here)."""

from __future__ import annotations

import re

from agentic_app.domain.errors import InvalidInputError

MIN_USERNAME_LENGTH = 3
MAX_USERNAME_LENGTH = 64
"""A username is 3 to 64 letters, digits, '_', '.' or '-' (the users.username column)."""
USERNAME_PATTERN = rf"^[A-Za-z0-9_.-]{{{MIN_USERNAME_LENGTH},{MAX_USERNAME_LENGTH}}}$"
MAX_TOKEN_NAME_LENGTH = 100
"""Longest name of an API token (the api_tokens.name column)."""

_USERNAME_RE = re.compile(USERNAME_PATTERN)


def check_username(username: str) -> None:
    """InvalidInputError(field="username") unless ``username`` follows USERNAME_PATTERN."""
    if not _USERNAME_RE.match(username or ""):
        raise InvalidInputError(
            f"username must be {MIN_USERNAME_LENGTH}-{MAX_USERNAME_LENGTH} letters, digits, "
            "'_', '.' or '-'", field="username")


def check_token_name(name: str) -> None:
    """InvalidInputError(field="name") unless the token name has 1 to MAX_TOKEN_NAME_LENGTH
    characters."""
    if not 1 <= len(name.strip()) <= MAX_TOKEN_NAME_LENGTH:
        raise InvalidInputError(f"name must be 1 to {MAX_TOKEN_NAME_LENGTH} characters",
                                field="name")
