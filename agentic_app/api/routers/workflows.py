"""Workflow routes: CRUD, templates, validation, the trigger node, and run now."""

from __future__ import annotations

from fastapi import APIRouter, Response

from agentic_app.api.deps import AppDep, CurrentUser, DateRangeDep, IdPath, PageDep
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.queue_schemas import JobPublic
from agentic_app.api.schemas import (
    Page,
    TemplatePublic,
    WorkflowCreate,
    WorkflowFromTemplate,
    WorkflowPublic,
    WorkflowRun,
    WorkflowTrigger,
    WorkflowUpdate,
    WorkflowValidate,
    WorkflowValidation,
)

router = APIRouter(prefix="/workflows", tags=["workflows"], responses=COMMON_ERRORS)


@router.get("", response_model=Page[WorkflowPublic])
def list_workflows(user: CurrentUser, app: AppDep, page: PageDep, dates: DateRangeDep,
                   is_active: bool | None = None,
                   name: str | None = None) -> Page[WorkflowPublic]:
    """The user's workflows, newest first; filter by active flag, name part, creation date."""
    rows, total = app.workflows.search(
        user, is_active=is_active, name=(name or "")[:200] or None,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit)
    return Page[WorkflowPublic](items=[WorkflowPublic.model_validate(r) for r in rows],
                                total=total, offset=page.offset, limit=page.limit)


@router.post("", response_model=WorkflowPublic, status_code=201)
def create_workflow(body: WorkflowCreate, user: CurrentUser, app: AppDep) -> WorkflowPublic:
    """Create a workflow; 422 listing every problem when the definition is invalid."""
    wf = app.workflows.create(user, name=body.name, description=body.description,
                              definition=body.definition, is_active=body.is_active)
    return WorkflowPublic.model_validate(wf)


@router.get("/templates", response_model=list[TemplatePublic])
def list_templates(user: CurrentUser, app: AppDep) -> list[TemplatePublic]:
    """The templates a workflow can start from."""
    return [TemplatePublic.model_validate(t) for t in app.workflows.templates()]


@router.post("/from-template", response_model=WorkflowPublic, status_code=201)
def create_from_template(body: WorkflowFromTemplate, user: CurrentUser,
                         app: AppDep) -> WorkflowPublic:
    """Create a workflow from a template (name made unique among yours), optionally with
    ``trigger_type`` + ``params`` as its trigger node (checked like a schedule: 422 names the
    field); 422 naming ``template`` when there is no such template."""
    wf = app.triggers.from_template(user, body.template, name=body.name,
                                    trigger_type=body.trigger_type, params=body.params)
    return WorkflowPublic.model_validate(wf)


@router.post("/validate", response_model=WorkflowValidation)
def validate_workflow(body: WorkflowValidate, user: CurrentUser,
                      app: AppDep) -> WorkflowValidation:
    """Check a definition without storing it: ``valid`` and every problem (200 either way),
    the trigger node type and the nodes by parallel level."""
    return WorkflowValidation.model_validate(app.workflows.check(body.definition))


@router.get("/{workflow_id}", response_model=WorkflowPublic)
def get_workflow(workflow_id: IdPath, user: CurrentUser, app: AppDep) -> WorkflowPublic:
    """One of the user's workflows."""
    return WorkflowPublic.model_validate(app.workflows.get(user, workflow_id))


@router.put("/{workflow_id}", response_model=WorkflowPublic,
            responses=error_responses(409))
def update_workflow(workflow_id: IdPath, body: WorkflowUpdate, user: CurrentUser,
                    app: AppDep) -> WorkflowPublic:
    """Change name, description, definition (validated; bumps version) or active flag."""
    wf = app.workflows.update(user, workflow_id, name=body.name, description=body.description,
                              definition=body.definition, is_active=body.is_active)
    return WorkflowPublic.model_validate(wf)


@router.put("/{workflow_id}/trigger", response_model=WorkflowPublic)
def set_trigger(workflow_id: IdPath, body: WorkflowTrigger, user: CurrentUser,
                app: AppDep) -> WorkflowPublic:
    """Make ``params`` the workflow's ``trigger_type`` trigger node (added in front when it
    has none), checked the way a schedule of it would be: 422 names the field (e.g.
    ``trigger_config.condition`` with ``position``). A change bumps the version."""
    wf = app.triggers.set_trigger(user, workflow_id, trigger_type=body.trigger_type,
                                  params=body.params)
    return WorkflowPublic.model_validate(wf)


@router.delete("/{workflow_id}", status_code=204, response_class=Response,
               responses=error_responses(409))
def delete_workflow(workflow_id: IdPath, user: CurrentUser, app: AppDep) -> Response:
    """Delete a workflow without scheduled jobs or history (409 otherwise: deactivate it)."""
    app.workflows.delete(user, workflow_id)
    return Response(status_code=204)


@router.post("/{workflow_id}/run", response_model=JobPublic, status_code=202,
             responses=error_responses(409, 429))
def run_workflow(workflow_id: IdPath, user: CurrentUser, app: AppDep,
                 body: WorkflowRun | None = None) -> JobPublic:
    """Enqueue an execution now (trigger type ``manual``); 429 names the limit hit. Watch
    it on the WebSocket ``/monitoring/executions/{execution_id}``."""
    body = body or WorkflowRun()
    job = app.workflows.run_now(user, workflow_id, trigger_payload=body.trigger_payload,
                                priority=body.priority)
    return JobPublic.model_validate(app.queue.view(job))
