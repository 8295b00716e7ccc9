"""Queue routes: status, pending and all jobs, cancel and retry."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from agentic_app.api.deps import (
    CurrentUser,
    DateRangeDep,
    IdPath,
    OptionalRedisDep,
    PageDep,
    RedisDep,
    SettingsDep,
)
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.schemas import MAX_ID, JobPublic, Page, QueueStatus
from agentic_app.services import queue as service

router = APIRouter(prefix="/queue", tags=["queue"], responses=COMMON_ERRORS)

StatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
PriorityName = Literal["high", "normal", "low"]


def _page(rows, total, page) -> Page[JobPublic]:
    return Page[JobPublic](items=[JobPublic.model_validate(service.job_view(r)) for r in rows],
                           total=total, offset=page.offset, limit=page.limit)


@router.get("/status", response_model=QueueStatus)
def queue_status(user: CurrentUser, settings: SettingsDep, redis: OptionalRedisDep,
                 window_minutes: Annotated[int, Query(ge=1, le=1440)] = 15) -> QueueStatus:
    """The user's jobs per status and priority, slot waits, throughput over the last
    ``window_minutes``, the shared queue depth and cap, and the workers online."""
    return QueueStatus.model_validate(service.queue_status(
        settings, user_id=user.id, redis=redis, window_minutes=window_minutes))


@router.get("/pending", response_model=Page[JobPublic])
def pending_jobs(user: CurrentUser, settings: SettingsDep, page: PageDep, dates: DateRangeDep,
                 workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 priority: PriorityName | None = None) -> Page[JobPublic]:
    """The user's pending jobs in the order workers take them (priority, then FIFO)."""
    rows, total = service.list_jobs(
        settings.database_url, user_id=user.id, statuses=["pending"], workflow_id=workflow_id,
        priority=priority, created_after=dates.created_after,
        created_before=dates.created_before, offset=page.offset, limit=page.limit,
        oldest_first=True)
    return _page(rows, total, page)


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(user: CurrentUser, settings: SettingsDep, page: PageDep, dates: DateRangeDep,
              status: Annotated[list[StatusName] | None, Query()] = None,
              workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
              scheduled_job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
              priority: PriorityName | None = None) -> Page[JobPublic]:
    """The user's jobs, newest first; filter by status (repeatable), workflow, scheduled
    job, priority band and creation date."""
    rows, total = service.list_jobs(
        settings.database_url, user_id=user.id, statuses=list(status or []) or None,
        workflow_id=workflow_id, scheduled_job_id=scheduled_job_id, priority=priority,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit)
    return _page(rows, total, page)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: IdPath, user: CurrentUser, settings: SettingsDep) -> JobPublic:
    """One of the user's jobs."""
    job = service.owned_job(settings.database_url, user_id=user.id, job_id=job_id)
    return JobPublic.model_validate(service.job_view(job))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic,
             responses=error_responses(409))
def cancel_job(job_id: IdPath, user: CurrentUser, settings: SettingsDep,
               redis: RedisDep) -> JobPublic:
    """Cancel a pending job at once, or stop a running one (waits up to 5 s for it to stop
    by itself, then RQ stops it); 409 when it already finished."""
    job = service.cancel(settings, user_id=user.id, job_id=job_id, redis=redis)
    return JobPublic.model_validate(service.job_view(job))


@router.post("/jobs/{job_id}/retry", response_model=JobPublic, status_code=202,
             responses=error_responses(409, 429))
def retry_job(job_id: IdPath, user: CurrentUser, settings: SettingsDep,
              redis: RedisDep) -> JobPublic:
    """Retry a failed or cancelled job: a new attempt of the same execution; 409 otherwise."""
    job = service.retry(settings, user_id=user.id, job_id=job_id, redis=redis)
    return JobPublic.model_validate(service.job_view(job))
