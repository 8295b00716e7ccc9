"""User accounts: create (CLI, admins, tests), look up, authenticate."""

from __future__ import annotations

from sqlmodel import select

from agentic_app.db.models import User
from agentic_app.domain.accounts import check_username
from agentic_app.domain.errors import ForbiddenError, InvalidInputError
from agentic_app.domain.password_policy import password_problem
from agentic_app.services.base import Actor, Service
from agentic_app.services.passwords import dummy_hash, hash_password, verify_password


class UserService(Service):
    """User accounts."""

    def create(self, *, username: str, password: str, is_admin: bool = False) -> Actor:
        """Create a user (the operator's CLI); InvalidInputError when the name is malformed
        or taken, or the password fails the policy
        (:mod:`agentic_app.domain.password_policy`)."""
        check_username(username)
        problem = password_problem(password or "", username=username)
        if problem is not None:
            raise InvalidInputError(problem, field="password")
        with self.db.session() as session:
            if session.exec(select(User).where(User.username == username)).first():
                raise InvalidInputError(f"user {username!r} already exists", field="username")
            user = User(username=username, password_hash=hash_password(password),
                        is_admin=is_admin)
            session.add(user)
            session.flush()
            session.refresh(user)
            return Actor.of(user)

    def create_by(self, actor: Actor, *, username: str, password: str,
                  is_admin: bool = False) -> Actor:
        """:meth:`create` on behalf of a logged-in user: ForbiddenError (403) unless an
        admin."""
        if not actor.is_admin:
            raise ForbiddenError("creating accounts is for admins", field="Authorization")
        return self.create(username=username, password=password, is_admin=is_admin)

    def by_name(self, username: str) -> Actor | None:
        """The user called ``username``, or None."""
        with self.db.session() as session:
            user = session.exec(select(User).where(User.username == username)).first()
            return Actor.of(user) if user is not None else None

    def authenticate(self, *, username: str, password: str) -> Actor | None:
        """The active user whose password matches, else None.

        The password is always hashed, against a dummy hash for an unknown name, so unknown,
        inactive and known names take the same time (no username enumeration by timing)."""
        with self.db.session() as session:
            user = session.exec(select(User).where(User.username == username)).first()
        matches = verify_password(user.password_hash if user else dummy_hash(), password)
        if user is None or not user.is_active or not matches:
            return None
        return Actor.of(user)
