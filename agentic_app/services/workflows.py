"""Workflows of a user: list and fetch with ownership checks."""

from __future__ import annotations

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import Workflow
from agentic_app.domain.errors import NotFoundError


def list_workflows(*, user_id: int, database_url: str | None = None) -> list[Workflow]:
    """The user's workflows, newest first."""
    with session_scope(database_url) as session:
        stmt = select(Workflow).where(Workflow.user_id == user_id).order_by(Workflow.id.desc())
        return list(session.exec(stmt))


def get_workflow(*, user_id: int, workflow_id: int, database_url: str | None = None) -> Workflow:
    """The workflow if it belongs to ``user_id``; NotFoundError otherwise."""
    with session_scope(database_url) as session:
        wf = session.get(Workflow, workflow_id)
        if wf is None or wf.user_id != user_id:
            raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
        return wf
