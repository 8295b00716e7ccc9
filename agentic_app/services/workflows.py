"""Workflows of a user: list, fetch, create (also from a template), update, delete, validate,
set the trigger, and run now.

Every method checks ownership: another user's workflow is reported as not found.
Definitions are validated against the node registry before anything is written.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from agentic_app.db.models import JobQueueEntry, ScheduledJob, Workflow, WorkflowExecution, utcnow
from agentic_app.db.queries import count_rows
from agentic_app.domain.definition_text import check_definition_size
from agentic_app.domain.errors import ConflictError, InvalidInputError, NotFoundError
from agentic_app.domain.templates import TEMPLATES, get_template
from agentic_app.domain.workflow import (
    DEFAULT_LIMITS,
    WorkflowLimits,
    WorkflowSpec,
    WorkflowValidationError,
    validate_workflow,
)
from agentic_app.nodes.library import registry
from agentic_app.services.base import Actor, Service


def validate_definition(definition: Any,
                        limits: WorkflowLimits = DEFAULT_LIMITS) -> WorkflowSpec:
    """The parsed workflow within ``limits``; WorkflowValidationError (every problem listed)
    when invalid. Module level: the editor runs it in a worker process."""
    return validate_workflow(definition, registry, limits)


def levels_view(spec: WorkflowSpec) -> list[list[dict[str, str]]]:
    """The nodes by parallel level: ``[[{"id", "type"}, ...], ...]``."""
    return [[{"id": n, "type": spec.node(n).type} for n in sorted(level)]
            for level in spec.parallel_levels()]


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when the user already has it."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


class WorkflowService(Service):
    """The acting user's workflows."""

    def validate(self, definition: Any) -> WorkflowSpec:
        """The parsed workflow within the configured size caps (``WORKFLOWS__*``):
        InvalidInputError over the byte cap, WorkflowValidationError (every problem listed)
        when invalid."""
        limits = self.settings.workflows.limits()
        check_definition_size(json.dumps(definition), limits.max_definition_bytes)
        return validate_definition(definition, limits)

    def check(self, definition: Any) -> dict[str, Any]:
        """Check a definition without storing it: ``valid``, every problem, the trigger node
        type and the parallel levels (drawn as far as the structure allows)."""
        try:
            spec = self.validate(definition)
        except WorkflowValidationError as exc:
            try:
                levels = levels_view(WorkflowSpec.model_validate(definition))
            except Exception:  # structure too broken to draw
                levels = []
            return {"valid": False, "problems": [p.to_dict() for p in exc.problems],
                    "trigger_node_type": None, "levels": levels}
        trigger = spec.trigger_node(registry)
        return {"valid": True, "problems": [], "levels": levels_view(spec),
                "trigger_node_type": trigger.type if trigger else None}

    def templates(self) -> list[dict[str, Any]]:
        """The templates to start from: name, description and trigger type."""
        from agentic_app.services.dashboard import trigger_of

        return [{"name": name, "description": tpl["description"],
                 "trigger_type": trigger_of(tpl["definition"])[0]}
                for name, tpl in TEMPLATES.items()]

    def list(self, actor: Actor) -> list[Workflow]:
        """The user's workflows, newest first."""
        with self.db.session() as session:
            stmt = select(Workflow).where(Workflow.user_id == actor.id).order_by(
                col(Workflow.id).desc())
            return list(session.exec(stmt))

    def search(self, actor: Actor, *, is_active: bool | None = None, name: str | None = None,
               created_after: datetime | None = None, created_before: datetime | None = None,
               offset: int = 0, limit: int = 50) -> tuple[list[Workflow], int]:
        """The user's workflows, newest first, filtered and paginated; (rows, total)."""
        with self.db.session() as session:
            stmt = select(Workflow).where(Workflow.user_id == actor.id)
            if is_active is not None:
                stmt = stmt.where(Workflow.is_active == is_active)
            if name:
                stmt = stmt.where(func.lower(Workflow.name).contains(name.lower(),
                                                                     autoescape=True))
            if created_after is not None:
                stmt = stmt.where(Workflow.created_at >= created_after)
            if created_before is not None:
                stmt = stmt.where(Workflow.created_at < created_before)
            total = count_rows(session, stmt)
            rows = session.exec(stmt.order_by(col(Workflow.id).desc()).offset(offset)
                                .limit(limit))
            return list(rows), int(total)

    def get(self, actor: Actor, workflow_id: int) -> Workflow:
        """The workflow if it belongs to the user; NotFoundError otherwise."""
        with self.db.session() as session:
            return self.owned(session, actor, workflow_id)

    @staticmethod
    def owned(session: Any, actor: Actor, workflow_id: int) -> Workflow:
        """The workflow row in ``session`` if it is the user's (the one ownership check of
        workflows); NotFoundError otherwise."""
        wf = session.get(Workflow, workflow_id)
        if wf is None or wf.user_id != actor.id:
            raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
        return wf

    def create(self, actor: Actor, *, name: str, definition: Any, description: str = "",
               is_active: bool = True) -> Workflow:
        """Validate and store a new workflow."""
        spec = self.validate(definition)
        with self.db.session() as session:
            wf = Workflow(user_id=actor.id, name=name, description=description,
                          definition=spec.to_dict(), is_active=is_active)
            session.add(wf)
            session.flush()
            session.refresh(wf)
            return wf

    def create_from_template(self, actor: Actor, template: str, *, name: str = "",
                             definition: dict | None = None) -> Workflow:
        """A new workflow from a template, named ``name`` (default the template's), made
        unique among the user's workflows; ``definition`` replaces the template's (e.g.
        with another trigger). InvalidInputError naming ``template`` when there is none."""
        try:
            tpl = get_template(template)
        except KeyError:
            raise InvalidInputError(f"no template called {template!r}",
                                    field="template") from None
        taken = {wf.name for wf in self.list(actor)}
        return self.create(actor, name=unique_name((name or tpl["name"]).strip(), taken),
                           definition=definition or tpl["definition"],
                           description=tpl["description"])

    def update(self, actor: Actor, workflow_id: int, *, name: str | None = None,
               description: str | None = None, definition: Any = None,
               is_active: bool | None = None) -> Workflow:
        """Change the given fields; a new definition is validated and bumps ``version``."""
        spec = self.validate(definition) if definition is not None else None
        with self.db.session() as session:
            wf = self.owned(session, actor, workflow_id)
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

    def delete(self, actor: Actor, workflow_id: int) -> None:
        """Delete a workflow that has no scheduled jobs and no execution history.

        ConflictError otherwise: history is kept, so such a workflow is deactivated instead
        (``is_active = false``) and its scheduled jobs deleted first.
        """
        with self.db.session() as session:
            wf = self.owned(session, actor, workflow_id)
            for model, what in ((ScheduledJob, "scheduled job(s)"),
                                (WorkflowExecution, "execution(s) in its history"),
                                (JobQueueEntry, "queued job(s)")):
                count = session.exec(select(func.count()).select_from(model)
                                     .where(model.workflow_id == workflow_id)).one()
                if count:
                    raise ConflictError(
                        f"workflow {workflow_id} has {count} {what}; delete its scheduled "
                        f"jobs first, or deactivate it (is_active = false) to keep its history",
                        field="workflow_id")
            session.delete(wf)

    def run_now(self, actor: Actor, workflow_id: int, *, trigger_payload: dict | None = None,
                priority: int = 0, scheduled_job_id: int | None = None) -> JobQueueEntry:
        """Enqueue a manual execution of the user's workflow now; returns the job row (its
        ``execution_id`` is what to watch).

        NotFoundError (not the user's), WorkflowValidationError (stored definition invalid),
        ConflictError (workflow inactive), LimitExceededError (daily cap, queue full),
        ServiceUnavailableError (no Redis).
        """
        from agentic_app.engine.queue.enqueue import enqueue_execution

        wf = self.get(actor, workflow_id)
        if not wf.is_active:
            raise ConflictError(f"workflow {workflow_id} is inactive", field="workflow_id")
        self.validate(wf.definition)
        payload = {"source": "api", **(trigger_payload or {})}
        return enqueue_execution(db=self.db, redis=self._app.redis,
                                 workflow_id=workflow_id, user_id=actor.id,
                                 trigger_type="manual", trigger_payload=payload,
                                 priority=priority, scheduled_job_id=scheduled_job_id,
                                 settings=self.settings)
