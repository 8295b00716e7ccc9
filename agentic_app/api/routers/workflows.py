"""Workflow routes: CRUD, validation, and run now."""

from __future__ import annotations

from fastapi import APIRouter, Response

from agentic_app.api.deps import (
    CurrentUser,
    DateRangeDep,
    IdPath,
    PageDep,
    RedisDep,
    SettingsDep,
)
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.schemas import (
    JobPublic,
    Page,
    WorkflowCreate,
    WorkflowPublic,
    WorkflowRun,
    WorkflowUpdate,
    WorkflowValidate,
    WorkflowValidation,
)
from agentic_app.domain.workflow import WorkflowValidationError
from agentic_app.nodes.library import registry
from agentic_app.services import queue as queue_service
from agentic_app.services import workflows as service

router = APIRouter(prefix="/workflows", tags=["workflows"], responses=COMMON_ERRORS)


@router.get("", response_model=Page[WorkflowPublic])
def list_workflows(user: CurrentUser, settings: SettingsDep, page: PageDep,
                   dates: DateRangeDep, is_active: bool | None = None,
                   name: str | None = None) -> Page[WorkflowPublic]:
    """The user's workflows, newest first; filter by active flag, name part, creation date."""
    rows, total = service.search_workflows(
        user_id=user.id, is_active=is_active, name=(name or "")[:200] or None,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit, database_url=settings.database_url)
    return Page[WorkflowPublic](items=[WorkflowPublic.model_validate(r) for r in rows],
                                total=total, offset=page.offset, limit=page.limit)


@router.post("", response_model=WorkflowPublic, status_code=201)
def create_workflow(body: WorkflowCreate, user: CurrentUser,
                    settings: SettingsDep) -> WorkflowPublic:
    """Create a workflow; 422 listing every problem when the definition is invalid."""
    wf = service.create_workflow(user_id=user.id, name=body.name, description=body.description,
                                 definition=body.definition, is_active=body.is_active,
                                 database_url=settings.database_url)
    return WorkflowPublic.model_validate(wf)


@router.post("/validate", response_model=WorkflowValidation)
def validate_workflow(body: WorkflowValidate, user: CurrentUser) -> WorkflowValidation:
    """Check a definition without storing it: ``valid`` and every problem (200 either way)."""
    try:
        spec = service.validate_definition(body.definition)
    except WorkflowValidationError as exc:
        return WorkflowValidation(valid=False, problems=[p.to_dict() for p in exc.problems])
    trigger = spec.trigger_node(registry)
    return WorkflowValidation(valid=True, problems=[],
                              trigger_node_type=trigger.type if trigger else None)


@router.get("/{workflow_id}", response_model=WorkflowPublic)
def get_workflow(workflow_id: IdPath, user: CurrentUser,
                 settings: SettingsDep) -> WorkflowPublic:
    """One of the user's workflows."""
    wf = service.get_workflow(user_id=user.id, workflow_id=workflow_id,
                              database_url=settings.database_url)
    return WorkflowPublic.model_validate(wf)


@router.put("/{workflow_id}", response_model=WorkflowPublic,
            responses=error_responses(409))
def update_workflow(workflow_id: IdPath, body: WorkflowUpdate, user: CurrentUser,
                    settings: SettingsDep) -> WorkflowPublic:
    """Change name, description, definition (validated; bumps version) or active flag."""
    wf = service.update_workflow(user_id=user.id, workflow_id=workflow_id, name=body.name,
                                 description=body.description, definition=body.definition,
                                 is_active=body.is_active, database_url=settings.database_url)
    return WorkflowPublic.model_validate(wf)


@router.delete("/{workflow_id}", status_code=204, response_class=Response,
               responses=error_responses(409))
def delete_workflow(workflow_id: IdPath, user: CurrentUser, settings: SettingsDep) -> Response:
    """Delete a workflow without scheduled jobs or history (409 otherwise: deactivate it)."""
    service.delete_workflow(user_id=user.id, workflow_id=workflow_id,
                            database_url=settings.database_url)
    return Response(status_code=204)


@router.post("/{workflow_id}/run", response_model=JobPublic, status_code=202,
             responses=error_responses(409, 429))
def run_workflow(workflow_id: IdPath, user: CurrentUser, settings: SettingsDep,
                 redis: RedisDep, body: WorkflowRun | None = None) -> JobPublic:
    """Enqueue an execution now (trigger type ``manual``); 429 names the limit hit."""
    body = body or WorkflowRun()
    job = service.run_now(settings, user_id=user.id, workflow_id=workflow_id, redis=redis,
                          trigger_payload=body.trigger_payload, priority=body.priority)
    return JobPublic.model_validate(queue_service.job_view(job))
