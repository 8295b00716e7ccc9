"""API tokens of a user: list, create (shown once), revoke by id."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from agentic_app.db.models import ApiToken
from agentic_app.db.queries import count_rows
from agentic_app.domain.accounts import check_token_name
from agentic_app.domain.errors import NotFoundError
from agentic_app.services.base import Actor, Service


class TokenService(Service):
    """The acting user's tokens (login sessions and API tokens)."""

    def list(self, actor: Actor, *, include_revoked: bool = False, kind: str | None = None,
             offset: int = 0, limit: int = 50) -> tuple[list[ApiToken], int]:
        """The user's tokens, newest first; (rows, total)."""
        with self.db.session() as s:
            stmt = select(ApiToken).where(ApiToken.user_id == actor.id)
            if not include_revoked:
                stmt = stmt.where(col(ApiToken.revoked).is_(False))
            if kind:
                stmt = stmt.where(ApiToken.kind == kind)
            total = count_rows(s, stmt)
            rows = s.exec(stmt.order_by(col(ApiToken.id).desc()).offset(offset).limit(limit))
            return list(rows), int(total)

    def create(self, actor: Actor, *, name: str,
               expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """A new named API token: (row, token in clear; the only time it is visible);
        InvalidInputError(field="name") for an empty or too long name."""
        check_token_name(name)
        lifetime = timedelta(days=expires_in_days) if expires_in_days else None
        token, row = self._app.auth.issue_token(user_id=actor.id, name=name, kind="api",
                                                lifetime=lifetime)
        return row, token

    def revoke(self, actor: Actor, token_id: int) -> ApiToken:
        """Revoke one of the user's tokens by id (idempotent); NotFoundError when not theirs."""
        with self.db.session() as s:
            row = s.get(ApiToken, token_id)
            if row is None or row.user_id != actor.id:
                raise NotFoundError(f"token {token_id} not found", field="id")
            row.revoked = True
            s.flush()
            s.refresh(row)
            return row
