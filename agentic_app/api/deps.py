"""Dependencies of the routes, as ``Annotated`` aliases: settings, Redis, the current user.

Authentication is ``Authorization: Bearer <token>`` with a login session token or an API
token (see :mod:`agentic_app.services.auth`); a missing, unknown, expired or revoked token
is 401. Ids in paths are positive 32-bit integers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import redis as redis_lib
from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentic_app.api.errors import ServiceUnavailableError
from agentic_app.api.schemas import MAX_ID
from agentic_app.db.models import User
from agentic_app.domain.errors import AuthenticationError, InvalidInputError
from agentic_app.settings import Settings

bearer_scheme = HTTPBearer(auto_error=False, description="login session token or API token")
"""The OpenAPI security scheme of every protected route."""


class RedisClients:
    """One Redis client per URL the resolver returns (thread-safe, created lazily)."""

    def __init__(self, resolver: Callable[[], str | None]) -> None:
        self.resolver = resolver
        self._clients: dict[str, redis_lib.Redis] = {}
        self._lock = threading.Lock()

    def url(self) -> str | None:
        """The Redis URL in use now (None when none is known)."""
        return self.resolver()

    def client(self) -> redis_lib.Redis | None:
        """A client for the current URL, or None when no Redis is known."""
        from agentic_app.engine.redis_conn import connect

        url = self.resolver()
        if url is None:
            return None
        with self._lock:
            if url not in self._clients:
                self._clients[url] = connect(url)
            return self._clients[url]


def get_settings_dep(request: Request) -> Settings:
    """The Settings the app was built with."""
    return request.app.state.settings


def get_redis_clients(request: Request) -> RedisClients:
    """The app's Redis client cache."""
    return request.app.state.redis_clients


def get_redis(request: Request) -> redis_lib.Redis:
    """A Redis client; 503 when no Redis is configured or found."""
    client = request.app.state.redis_clients.client()
    if client is None:
        raise ServiceUnavailableError("Redis is not available", field="redis")
    return client


def get_optional_redis(request: Request) -> redis_lib.Redis | None:
    """A Redis client, or None when none is known (for read-only status routes)."""
    return request.app.state.redis_clients.client()


def get_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                     Depends(bearer_scheme)]) -> str:
    """The bearer token of the request; 401 when there is none."""
    if credentials is None or not credentials.credentials.strip():
        raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)",
                                  field="Authorization")
    return credentials.credentials.strip()


def get_current_user(request: Request, token: Annotated[str, Depends(get_token)]) -> User:
    """The active user of a valid token; 401 otherwise."""
    from agentic_app.services.auth import user_for_token

    settings: Settings = request.app.state.settings
    if len(token) > 512 or "\x00" in token:
        raise AuthenticationError("invalid or expired token", field="Authorization")
    user = user_for_token(token, database_url=settings.database_url)
    if user is None:
        raise AuthenticationError("invalid or expired token", field="Authorization")
    return user


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
"""The app's Settings."""
RedisDep = Annotated[redis_lib.Redis, Depends(get_redis)]
"""A Redis client (503 when Redis is unavailable)."""
OptionalRedisDep = Annotated[redis_lib.Redis | None, Depends(get_optional_redis)]
"""A Redis client or None."""
TokenDep = Annotated[str, Depends(get_token)]
"""The request's bearer token (401 when missing)."""
CurrentUser = Annotated[User, Depends(get_current_user)]
"""The authenticated user (401 otherwise)."""
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="object id")]
"""An object id in a path."""

MAX_PAGE_SIZE = 500
"""Largest ``limit`` of a list request."""


@dataclass(frozen=True)
class Pagination:
    """``offset`` and ``limit`` of a list request."""

    offset: int
    limit: int


def get_pagination(
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="rows to return")] = 50,
) -> Pagination:
    """Pagination query parameters."""
    return Pagination(offset=offset, limit=limit)


def as_utc(value: datetime | None, field: str) -> datetime | None:
    """An aware UTC datetime (naive means UTC); InvalidInputError when out of range."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInputError(f"{field}: date out of range", field=field) from None


@dataclass(frozen=True)
class DateRange:
    """``created_after`` (inclusive) and ``created_before`` (exclusive), aware UTC."""

    created_after: datetime | None
    created_before: datetime | None


def get_date_range(
    created_after: Annotated[datetime | None, Query(
        description="only objects created at or after (ISO-8601; naive = UTC)")] = None,
    created_before: Annotated[datetime | None, Query(
        description="only objects created before (ISO-8601; naive = UTC)")] = None,
) -> DateRange:
    """Date-range query parameters."""
    return DateRange(as_utc(created_after, "created_after"),
                     as_utc(created_before, "created_before"))


PageDep = Annotated[Pagination, Depends(get_pagination)]
"""``offset`` / ``limit`` query parameters."""
DateRangeDep = Annotated[DateRange, Depends(get_date_range)]
"""``created_after`` / ``created_before`` query parameters."""
