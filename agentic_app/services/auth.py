"""Log in (throttled), log out, and resolve bearer tokens to the acting user.

Tokens are login sessions or named API tokens; only their hashes are stored. The same rules
serve every front end: the REST API, the monitoring WebSocket, rq-dashboard and the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select

from agentic_app.db.models import ApiToken, User, utcnow
from agentic_app.domain.errors import AuthenticationError
from agentic_app.services import login_limit
from agentic_app.services.base import Actor, Service
from agentic_app.services.passwords import hash_token, new_token

SESSION_LIFETIME = timedelta(days=7)
"""How long a login session token stays valid."""
SESSION_COOKIE = "agentic_token"
"""Cookie holding the browser's session token (read by backend-mounted pages such as /rq)."""
MAX_TOKEN_LENGTH = 512
"""Longer bearer tokens are refused without a database lookup."""


@dataclass(frozen=True)
class Login:
    """An opened session: who, the bearer token (shown once) and when it expires."""

    actor: Actor
    token: str
    expires_at: datetime | None


class AuthService(Service):
    """Sessions and bearer tokens."""

    def login(self, *, username: str, password: str, ip: str | None) -> Login:
        """Check the password and open a session (valid ``SESSION_LIFETIME``).

        Attempts are counted per username and client IP (:mod:`login_limit`): past the free
        failures, LoginThrottledError (429, with ``retry_after``) while the growing delay
        runs; AuthenticationError (401) for a wrong username or password."""
        redis, limits = self._app.redis, self.settings.login
        login_limit.check_allowed(redis, username=username, ip=ip, limits=limits)
        user = self._app.users.authenticate(username=username, password=password)
        if user is None:
            login_limit.record_failure(redis, username=username, ip=ip, limits=limits)
            raise AuthenticationError("wrong username or password", field="password")
        login_limit.record_success(redis, username=username, ip=ip, limits=limits)
        token, row = self.issue_token(user_id=user.id, name="login session", kind="session",
                                      lifetime=SESSION_LIFETIME)
        return Login(actor=Actor.of(user), token=token, expires_at=row.expires_at)

    def issue_token(self, *, user_id: int, name: str, kind: str = "api",
                    lifetime: timedelta | None = None) -> tuple[str, ApiToken]:
        """Create a token for ``user_id``: (the token in clear - the only time it is
        visible -, its row)."""
        token = new_token()
        with self.db.session() as session:
            row = ApiToken(user_id=user_id, name=name, kind=kind, token_hash=hash_token(token),
                           expires_at=utcnow() + lifetime if lifetime else None)
            session.add(row)
            session.flush()
            session.refresh(row)
        return token, row

    def actor_for_token(self, token: str | None) -> Actor | None:
        """The active user a valid, unrevoked, unexpired token belongs to; else None."""
        if not token or len(token) > MAX_TOKEN_LENGTH or "\x00" in token:
            return None
        with self.db.session() as session:
            row = session.exec(select(ApiToken).where(
                ApiToken.token_hash == hash_token(token))).first()
            if row is None or row.revoked or (row.expires_at and row.expires_at <= utcnow()):
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.is_active:
                return None
            row.last_used_at = utcnow()
            return Actor.of(user)

    def require(self, token: str | None) -> Actor:
        """The actor of ``token``; AuthenticationError (401) when it is not valid."""
        actor = self.actor_for_token(token)
        if actor is None:
            raise AuthenticationError("invalid or expired token", field="Authorization")
        return actor

    def logout(self, token: str) -> bool:
        """Revoke a token given in clear; True when one was revoked."""
        with self.db.session() as session:
            row = session.exec(select(ApiToken).where(
                ApiToken.token_hash == hash_token(token))).first()
            if row is None or row.revoked:
                return False
            row.revoked = True
            return True
