"""User accounts: create, look up, authenticate."""

from __future__ import annotations

import re

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import User
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.password_policy import password_problem
from agentic_app.services.passwords import dummy_hash, hash_password, verify_password

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


def create_user(*, username: str, password: str, is_admin: bool = False,
                database_url: str | None = None) -> User:
    """Create a user; InvalidInputError when the name is malformed or taken, or the password
    fails the policy (:mod:`agentic_app.domain.password_policy`)."""
    if not USERNAME_RE.match(username or ""):
        raise InvalidInputError("username must be 3-64 letters, digits, '_', '.' or '-'",
                                field="username")
    problem = password_problem(password or "", username=username)
    if problem is not None:
        raise InvalidInputError(problem, field="password")
    with session_scope(database_url) as session:
        if session.exec(select(User).where(User.username == username)).first():
            raise InvalidInputError(f"user {username!r} already exists", field="username")
        user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
        session.add(user)
        session.flush()
        session.refresh(user)
        return user


def get_user_by_name(*, username: str, database_url: str | None = None) -> User | None:
    """The user called ``username``, or None."""
    with session_scope(database_url) as session:
        return session.exec(select(User).where(User.username == username)).first()


def authenticate(*, username: str, password: str, database_url: str | None = None) -> User | None:
    """The active user whose password matches, else None.

    The password is always hashed, against a dummy hash for an unknown name, so unknown,
    inactive and known names take the same time (no username enumeration by timing)."""
    user = get_user_by_name(username=username, database_url=database_url)
    matches = verify_password(user.password_hash if user else dummy_hash(), password)
    if user is None or not user.is_active or not matches:
        return None
    return user
