"""Queue routes: status, pending and all jobs, cancel and retry, one job or many."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from agentic_app.api.deps import AppDep, CurrentUser, DateRangeDep, IdPath, PageDep
from agentic_app.api.errors import COMMON_ERRORS, error_responses
from agentic_app.api.queue_schemas import (
    BulkJobResult,
    BulkJobs,
    BulkJobsResult,
    JobPublic,
    QueueStatus,
    ThroughputPoint,
)
from agentic_app.api.schemas import MAX_ID, Page

router = APIRouter(prefix="/queue", tags=["queue"], responses=COMMON_ERRORS)

StatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
PriorityName = Literal["high", "normal", "low"]


def _page(app, rows, total, page) -> Page[JobPublic]:
    return Page[JobPublic](items=[JobPublic.model_validate(app.queue.view(r)) for r in rows],
                           total=total, offset=page.offset, limit=page.limit)


def _bulk(results: list[dict]) -> BulkJobsResult:
    ok = sum(1 for r in results if r["ok"])
    return BulkJobsResult(results=[BulkJobResult.model_validate(r) for r in results],
                          succeeded=ok, failed=len(results) - ok)


@router.get("/status", response_model=QueueStatus)
def queue_status(user: CurrentUser, app: AppDep,
                 window_minutes: Annotated[int, Query(ge=1, le=1440)] = 15) -> QueueStatus:
    """The user's jobs (an admin: everyone's) per status and priority, slot waits,
    throughput over the last ``window_minutes``, the shared queue depth and cap, and the
    workers online; a worker's current job id only when it is the caller's (or to admins)."""
    return QueueStatus.model_validate(app.queue.status(user, window_minutes=window_minutes))


@router.get("/throughput", response_model=list[ThroughputPoint])
def throughput(user: CurrentUser, app: AppDep,
               minutes: Annotated[int, Query(ge=1, le=1440)] = 60) -> list[ThroughputPoint]:
    """The user's completed and failed jobs per minute over the last ``minutes``, oldest
    first (what the queue page charts)."""
    return [ThroughputPoint.model_validate(p)
            for p in app.queue.throughput_series(user, minutes=minutes)]


@router.get("/pending", response_model=Page[JobPublic])
def pending_jobs(user: CurrentUser, app: AppDep, page: PageDep, dates: DateRangeDep,
                 workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 priority: PriorityName | None = None) -> Page[JobPublic]:
    """The user's pending jobs in the order workers take them (priority, then FIFO)."""
    rows, total = app.queue.list(
        user, statuses=["pending"], workflow_id=workflow_id, priority=priority,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit, oldest_first=True)
    return _page(app, rows, total, page)


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(user: CurrentUser, app: AppDep, page: PageDep, dates: DateRangeDep,
              status: Annotated[list[StatusName] | None, Query()] = None,
              workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
              scheduled_job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
              priority: PriorityName | None = None) -> Page[JobPublic]:
    """The user's jobs, newest first; filter by status (repeatable), workflow, scheduled
    job, priority band and creation date."""
    rows, total = app.queue.list(
        user, statuses=list(status or []) or None, workflow_id=workflow_id,
        scheduled_job_id=scheduled_job_id, priority=priority,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit)
    return _page(app, rows, total, page)


@router.post("/jobs/bulk-retry", response_model=BulkJobsResult,
             responses=error_responses(503))
def bulk_retry(body: BulkJobs, user: CurrentUser, app: AppDep) -> BulkJobsResult:
    """Retry many failed or cancelled jobs: one result per job, in request order (200 even
    when some are refused). ``outcome``: ``ok``, ``not_found`` (unknown or another user's:
    left unchanged), ``not_retryable`` (not failed or cancelled), ``limit_exceeded`` (queue
    full) or ``error``, with ``reason``. At most 500 ids."""
    return _bulk(app.queue.bulk_retry(user, body.job_ids))


@router.post("/jobs/bulk-cancel", response_model=BulkJobsResult,
             responses=error_responses(503))
def bulk_cancel(body: BulkJobs, user: CurrentUser, app: AppDep) -> BulkJobsResult:
    """Cancel many pending or running jobs (each running one gets 1 s to stop by itself):
    one result per job like bulk-retry; already finished jobs are ``not_cancellable``."""
    return _bulk(app.queue.bulk_cancel(user, body.job_ids))


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> JobPublic:
    """One of the user's jobs."""
    return JobPublic.model_validate(app.queue.view(app.queue.get(user, job_id)))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic,
             responses=error_responses(409))
def cancel_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> JobPublic:
    """Cancel a pending job at once, or stop a running one (waits up to 5 s for it to stop
    by itself, then RQ stops it); 409 when it already finished."""
    return JobPublic.model_validate(app.queue.view(app.queue.cancel(user, job_id)))


@router.post("/jobs/{job_id}/retry", response_model=JobPublic, status_code=202,
             responses=error_responses(409, 429))
def retry_job(job_id: IdPath, user: CurrentUser, app: AppDep) -> JobPublic:
    """Retry a failed or cancelled job: a new attempt of the same execution; 409 otherwise."""
    return JobPublic.model_validate(app.queue.view(app.queue.retry(user, job_id)))
