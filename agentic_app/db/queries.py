"""Query helpers shared by the list endpoints: common filters and row counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, func, select


def count_rows(session: Any, stmt: Any) -> int:
    """Number of rows ``stmt`` would return (before offset/limit)."""
    return int(session.exec(select(func.count()).select_from(stmt.subquery())).one())


def filter_owned(stmt: Any, model: Any, *, user_id: int, statuses: list[str] | None = None,
                 workflow_id: int | None = None, scheduled_job_id: int | None = None,
                 created_after: datetime | None = None,
                 created_before: datetime | None = None) -> Any:
    """``stmt`` restricted to ``user_id``'s rows of ``model`` and the usual list filters."""
    stmt = stmt.where(model.user_id == user_id)
    if statuses:
        stmt = stmt.where(col(model.status).in_(statuses))
    if workflow_id is not None:
        stmt = stmt.where(model.workflow_id == workflow_id)
    if scheduled_job_id is not None:
        stmt = stmt.where(model.scheduled_job_id == scheduled_job_id)
    if created_after is not None:
        stmt = stmt.where(model.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(model.created_at < created_before)
    return stmt
