"""Workflows of a user: list, fetch, create, update, delete, validate and run now.

Every function checks ownership: another user's workflow is reported as not found.
Definitions are validated against the node registry before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis as redis_lib
from sqlmodel import col, func, select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, ScheduledJob, Workflow, WorkflowExecution, utcnow
from agentic_app.db.queries import count_rows
from agentic_app.domain.errors import ConflictError, NotFoundError
from agentic_app.domain.workflow import WorkflowSpec, validate_workflow
from agentic_app.nodes.library import registry
from agentic_app.settings import Settings


def validate_definition(definition: Any) -> WorkflowSpec:
    """The parsed workflow; WorkflowValidationError (every problem listed) when invalid."""
    return validate_workflow(definition, registry)


def list_workflows(*, user_id: int, database_url: str | None = None) -> list[Workflow]:
    """The user's workflows, newest first."""
    with session_scope(database_url) as session:
        stmt = select(Workflow).where(Workflow.user_id == user_id).order_by(Workflow.id.desc())
        return list(session.exec(stmt))


def search_workflows(*, user_id: int, is_active: bool | None = None, name: str | None = None,
                     created_after: datetime | None = None,
                     created_before: datetime | None = None, offset: int = 0, limit: int = 50,
                     database_url: str | None = None) -> tuple[list[Workflow], int]:
    """The user's workflows, newest first, filtered and paginated; (rows, total)."""
    with session_scope(database_url) as session:
        stmt = select(Workflow).where(Workflow.user_id == user_id)
        if is_active is not None:
            stmt = stmt.where(Workflow.is_active == is_active)
        if name:
            stmt = stmt.where(func.lower(Workflow.name).contains(name.lower(), autoescape=True))
        if created_after is not None:
            stmt = stmt.where(Workflow.created_at >= created_after)
        if created_before is not None:
            stmt = stmt.where(Workflow.created_at < created_before)
        total = count_rows(session, stmt)
        rows = session.exec(stmt.order_by(col(Workflow.id).desc()).offset(offset).limit(limit))
        return list(rows), int(total)


def get_workflow(*, user_id: int, workflow_id: int, database_url: str | None = None) -> Workflow:
    """The workflow if it belongs to ``user_id``; NotFoundError otherwise."""
    with session_scope(database_url) as session:
        return _owned(session, user_id, workflow_id)


def _owned(session: Any, user_id: int, workflow_id: int) -> Workflow:
    wf = session.get(Workflow, workflow_id)
    if wf is None or wf.user_id != user_id:
        raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
    return wf


def create_workflow(*, user_id: int, name: str, definition: Any, description: str = "",
                    is_active: bool = True, database_url: str | None = None) -> Workflow:
    """Validate and store a new workflow."""
    spec = validate_definition(definition)
    with session_scope(database_url) as session:
        wf = Workflow(user_id=user_id, name=name, description=description,
                      definition=spec.to_dict(), is_active=is_active)
        session.add(wf)
        session.flush()
        session.refresh(wf)
        return wf


def update_workflow(*, user_id: int, workflow_id: int, name: str | None = None,
                    description: str | None = None, definition: Any = None,
                    is_active: bool | None = None, database_url: str | None = None) -> Workflow:
    """Change the given fields; a new definition is validated and bumps ``version``."""
    spec = validate_definition(definition) if definition is not None else None
    with session_scope(database_url) as session:
        wf = _owned(session, user_id, workflow_id)
        if name is not None:
            wf.name = name
        if description is not None:
            wf.description = description
        if is_active is not None:
            wf.is_active = is_active
        if spec is not None and spec.to_dict() != wf.definition:
            wf.definition = spec.to_dict()
            wf.version += 1
        wf.updated_at = utcnow()
        session.add(wf)
        session.flush()
        session.refresh(wf)
        return wf


def delete_workflow(*, user_id: int, workflow_id: int, database_url: str | None = None) -> None:
    """Delete a workflow that has no scheduled jobs and no execution history.

    ConflictError otherwise: history is kept, so such a workflow is deactivated instead
    (``is_active = false``) and its scheduled jobs deleted first.
    """
    with session_scope(database_url) as session:
        wf = _owned(session, user_id, workflow_id)
        for model, what in ((ScheduledJob, "scheduled job(s)"),
                            (WorkflowExecution, "execution(s) in its history"),
                            (JobQueueEntry, "queued job(s)")):
            count = session.exec(select(func.count()).select_from(model)
                                 .where(model.workflow_id == workflow_id)).one()
            if count:
                raise ConflictError(
                    f"workflow {workflow_id} has {count} {what}; delete its scheduled jobs "
                    f"first, or deactivate it (is_active = false) to keep its history",
                    field="workflow_id")
        session.delete(wf)


def run_now(settings: Settings, *, user_id: int, workflow_id: int, redis: redis_lib.Redis,
            trigger_payload: dict | None = None, priority: int = 0,
            database_url: str | None = None) -> JobQueueEntry:
    """Enqueue a manual execution of the user's workflow now; returns the job row.

    NotFoundError (not the user's), WorkflowValidationError (stored definition invalid),
    ConflictError (workflow inactive), LimitExceededError (daily cap, queue full).
    """
    from agentic_app.db.engine import Database
    from agentic_app.engine.queue.enqueue import enqueue_execution

    url = database_url or settings.database_url
    wf = get_workflow(user_id=user_id, workflow_id=workflow_id, database_url=url)
    if not wf.is_active:
        raise ConflictError(f"workflow {workflow_id} is inactive", field="workflow_id")
    validate_definition(wf.definition)
    payload = {"source": "api", **(trigger_payload or {})}
    return enqueue_execution(db=Database(url), redis=redis, workflow_id=workflow_id,
                             user_id=user_id, trigger_type="manual", trigger_payload=payload,
                             priority=priority, settings=settings)
