"""API tokens of a user: list, create (shown once), revoke by id."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import ApiToken
from agentic_app.db.queries import count_rows
from agentic_app.domain.errors import NotFoundError
from agentic_app.services.auth import issue_token
from agentic_app.services.passwords import hash_token


def list_tokens(*, user_id: int, include_revoked: bool = False, kind: str | None = None,
                offset: int = 0, limit: int = 50,
                database_url: str | None = None) -> tuple[list[ApiToken], int]:
    """The user's tokens (sessions and API tokens), newest first; (rows, total)."""
    with session_scope(database_url) as s:
        stmt = select(ApiToken).where(ApiToken.user_id == user_id)
        if not include_revoked:
            stmt = stmt.where(col(ApiToken.revoked).is_(False))
        if kind:
            stmt = stmt.where(ApiToken.kind == kind)
        total = count_rows(s, stmt)
        rows = s.exec(stmt.order_by(col(ApiToken.id).desc()).offset(offset).limit(limit))
        return list(rows), int(total)


def create_api_token(*, user_id: int, name: str, expires_in_days: int | None = None,
                     database_url: str | None = None) -> tuple[ApiToken, str]:
    """A new named API token: (row, token in clear; the only time it is visible)."""
    lifetime = timedelta(days=expires_in_days) if expires_in_days else None
    token = issue_token(user_id=user_id, name=name, kind="api", lifetime=lifetime,
                        database_url=database_url)
    with session_scope(database_url) as s:
        row = s.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
        return row, token


def token_row(token: str, *, database_url: str | None = None) -> ApiToken | None:
    """The row of a token given in clear, or None."""
    with session_scope(database_url) as s:
        return s.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()


def revoke_token_id(*, user_id: int, token_id: int, database_url: str | None = None) -> ApiToken:
    """Revoke one of the user's tokens by id (idempotent); NotFoundError when not theirs."""
    with session_scope(database_url) as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise NotFoundError(f"token {token_id} not found", field="id")
        row.revoked = True
        s.flush()
        s.refresh(row)
        return row
