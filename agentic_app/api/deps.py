"""Dependencies of the routes, as ``Annotated`` aliases: the app's facade, the current user.

Every route reaches the application through :class:`AppServices` (``AppDep``), the one
facade the app was built with. Authentication is ``Authorization: Bearer <token>`` with a
login session token or an API token (checked by ``app.auth``); a missing, unknown, expired
or revoked token is 401. Ids in paths are positive 32-bit integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentic_app.api.schemas import MAX_ID
from agentic_app.domain.errors import AuthenticationError, InvalidInputError
from agentic_app.services.app import Actor, AppServices

bearer_scheme = HTTPBearer(auto_error=False, description="login session token or API token")
"""The OpenAPI security scheme of every protected route."""


def get_app(request: Request) -> AppServices:
    """The facade the API was built with."""
    return request.app.state.services


def get_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                     Depends(bearer_scheme)]) -> str:
    """The bearer token of the request; 401 when there is none."""
    if credentials is None or not credentials.credentials.strip():
        raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)",
                                  field="Authorization")
    return credentials.credentials.strip()


def get_current_user(app: Annotated[AppServices, Depends(get_app)],
                     token: Annotated[str, Depends(get_token)]) -> Actor:
    """The acting user of a valid token; 401 otherwise."""
    return app.auth.require(token)


def get_optional_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                              Depends(bearer_scheme)]) -> str | None:
    """The bearer token of the request, or None (public routes)."""
    return credentials.credentials.strip() or None if credentials else None


AppDep = Annotated[AppServices, Depends(get_app)]
"""The application facade."""
TokenDep = Annotated[str, Depends(get_token)]
"""The request's bearer token (401 when missing)."""
CurrentUser = Annotated[Actor, Depends(get_current_user)]
"""The authenticated user (401 otherwise)."""
OptionalToken = Annotated[str | None, Depends(get_optional_token)]
"""The request's bearer token, or None (public routes; not checked here)."""
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
