"""Alert-only mode routes: switch it on or off for a scheduled job or a workflow."""

from __future__ import annotations

from fastapi import APIRouter

from agentic_app.api.deps import AppDep, CurrentUser, IdPath
from agentic_app.api.errors import COMMON_ERRORS
from agentic_app.api.portfolio_schemas import AlertOnlyUpdate
from agentic_app.api.schedule_schemas import SchedulePublic
from agentic_app.api.schemas import WorkflowPublic

router = APIRouter(tags=["alert-only"], responses=COMMON_ERRORS)


@router.put("/scheduler/jobs/{job_id}/alert-only", response_model=SchedulePublic)
def set_schedule_alert_only(job_id: IdPath, body: AlertOnlyUpdate, user: CurrentUser,
                            app: AppDep) -> SchedulePublic:
    """Turn alert-only mode on or off for a scheduled job: its runs then record and alert
    the orders they would place instead of trading. 404 not the user's job."""
    job = app.alert_mode.set_schedule(user, job_id, body.alert_only)
    return SchedulePublic.model_validate(app.schedules.view(job))


@router.put("/workflows/{workflow_id}/alert-only", response_model=WorkflowPublic)
def set_workflow_alert_only(workflow_id: IdPath, body: AlertOnlyUpdate, user: CurrentUser,
                            app: AppDep) -> WorkflowPublic:
    """Turn alert-only mode on or off for a workflow: every run of it (any schedule, or by
    hand) is then alert-only. 404 not the user's workflow."""
    return WorkflowPublic.model_validate(app.alert_mode.set_workflow(user, workflow_id,
                                                                      body.alert_only))
