"""Bearer tokens: login sessions and named API tokens (only hashes are stored)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import ApiToken, User, utcnow
from agentic_app.services.passwords import hash_token, new_token
from agentic_app.services.users import authenticate

SESSION_LIFETIME = timedelta(days=7)
"""How long a login session token stays valid."""
SESSION_COOKIE = "agentic_token"
"""Cookie holding the browser's session token (read by backend-mounted pages such as /rq)."""


def login(*, username: str, password: str,
          database_url: str | None = None) -> tuple[User, str] | None:
    """Check the password and open a session: (user, bearer token), or None."""
    user = authenticate(username=username, password=password, database_url=database_url)
    if user is None:
        return None
    token = issue_token(user_id=user.id, name="login session", kind="session",
                        lifetime=SESSION_LIFETIME, database_url=database_url)
    return user, token


def issue_token(*, user_id: int, name: str, kind: str = "api", lifetime: timedelta | None = None,
                database_url: str | None = None) -> str:
    """Create a token for ``user_id`` and return it in clear (the only time it is visible)."""
    token = new_token()
    with session_scope(database_url) as session:
        session.add(ApiToken(user_id=user_id, name=name, kind=kind, token_hash=hash_token(token),
                             expires_at=utcnow() + lifetime if lifetime else None))
    return token


def user_for_token(token: str | None, *, database_url: str | None = None) -> User | None:
    """The active user a valid, unrevoked, unexpired token belongs to; else None."""
    if not token:
        return None
    with session_scope(database_url) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
        if row is None or row.revoked or (row.expires_at and row.expires_at <= utcnow()):
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        row.last_used_at = utcnow()
        return user


def revoke_token(token: str, *, database_url: str | None = None) -> bool:
    """Revoke a token given in clear (logout); True when one was revoked."""
    with session_scope(database_url) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
        if row is None or row.revoked:
            return False
        row.revoked = True
        return True
