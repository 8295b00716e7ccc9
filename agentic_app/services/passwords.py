"""Password and token hashing (argon2 for passwords, SHA-256 for random tokens)."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (same cost when the hash is invalid)."""
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:  # e.g. an account without a password: spend the same time
        try:
            _hasher.verify(dummy_hash(), password)
        except VerificationError:
            pass
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """An argon2 hash of a random secret, made once with the same parameters as real ones:
    checking a password against it costs what checking a real account does."""
    return _hasher.hash(secrets.token_urlsafe(32))


def new_token() -> str:
    """A fresh random bearer token (shown once; only its hash is stored)."""
    return "agt_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a bearer token (tokens are high-entropy, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
