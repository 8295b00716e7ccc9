"""Retries: the automatic retry backoff, due retries moved from their waiting set to RQ, and
the manual retry of a failed or cancelled job."""

from __future__ import annotations

import time
from typing import Any

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.db.models import (
    ExecutionStatus,
    JobQueueEntry,
    JobStatus,
    ManualRetry,
    ScheduledJob,
    Workflow,
    WorkflowExecution,
    utcnow,
)
from agentic_app.domain.errors import ConflictError, InvalidInputError, NotFoundError
from agentic_app.engine.queue.dispatch import dispatch
from agentic_app.engine.queue.keys import DUE_KEY, WAITING_FLAG_TTL_S, waiting_key
from agentic_app.engine.queue.limits import check_caps, lock_writes
from agentic_app.engine.queue.rows import get_job
from agentic_app.engine.queue.rq_jobs import enqueue_rq, transaction
from agentic_app.settings import Settings, get_settings

_POP_DUE_LUA = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, m in ipairs(items) do redis.call('ZREM', KEYS[1], m) end
return items
"""


def retry_delay(settings: Settings, retry_number: int) -> int:
    """Backoff before automatic retry number ``retry_number`` (1-based)."""
    delays = settings.queue_config.retry_delay_seconds or [0]
    return delays[min(retry_number, len(delays)) - 1]


def pop_due_retries(*, redis: redis_lib.Redis, settings: Settings | None = None,
                    now: float | None = None) -> int:
    """Move retries whose backoff is over from :data:`DUE_KEY` to RQ; returns how many."""
    settings = settings or get_settings()
    items = redis.eval(_POP_DUE_LUA, 1, DUE_KEY, now if now is not None else time.time())
    if items:
        pipe = transaction(redis)
        for raw in items:
            job_id, attempt, priority = (int(p) for p in raw.decode().split(":"))
            enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority,
                       settings=settings, pipeline=pipe)
        pipe.execute()
    return len(items)


def check_still_runnable(s: Any, job: JobQueueEntry,
                         execution: WorkflowExecution | None) -> None:
    """ConflictError naming why when the job's workflow is deactivated or gone, or the
    scheduled job that started it is paused or was deleted: a retry runs nothing those
    refuse."""
    workflow = s.get(Workflow, job.workflow_id)
    if workflow is None:
        raise ConflictError(f"job {job.id} cannot be retried: its workflow "
                            f"{job.workflow_id} was deleted", field="workflow_id")
    if not workflow.is_active:
        raise ConflictError(f"job {job.id} cannot be retried: workflow {workflow.id} is "
                            "deactivated; activate it first", field="workflow_id")
    payload = (execution.trigger_payload if execution is not None else None) or {}
    started_by = job.scheduled_job_id or payload.get("scheduled_job_id")
    if started_by is None:
        return
    schedule = s.get(ScheduledJob, job.scheduled_job_id) if job.scheduled_job_id else None
    if schedule is None:
        raise ConflictError(f"job {job.id} cannot be retried: its scheduled job "
                            f"{started_by} was deleted", field="scheduled_job_id")
    if not schedule.is_active:
        raise ConflictError(
            f"job {job.id} cannot be retried: its scheduled job {schedule.id} is paused "
            f"({schedule.paused_reason or 'paused'}); resume it first",
            field="scheduled_job_id")


def retry_job(*, db: Database, redis: redis_lib.Redis, job_id: int,
              settings: Settings | None = None) -> JobQueueEntry:
    """Manually retry a failed or cancelled job: a new attempt of the same execution (its
    history is kept, and it runs the definition the execution was created with), automatic
    retries counted afresh. The retry counts against the daily cap and waits for one of the
    user's concurrency slots like any run. Raises InvalidInputError when the job is not
    failed or cancelled, ConflictError when its workflow or scheduled job refuses runs (see
    :func:`check_still_runnable`), LimitExceededError(limit="max_queue_size" or
    "max_executions_per_day")."""
    settings = settings or get_settings()
    with db.session() as s:
        lock_writes(s)
        job = s.get(JobQueueEntry, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", field="job_id")
        if job.status not in (JobStatus.failed.value, JobStatus.cancelled.value):
            raise InvalidInputError(
                f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried",
                field="status")
        execution = s.get(WorkflowExecution, job.execution_id)
        check_still_runnable(s, job, execution)
        check_caps(s.connection(), settings, job.user_id, utcnow())
        job.status = JobStatus.pending.value
        job.attempt += 1
        job.retry_count = 0
        job.error_message = None
        job.completed_at = None
        job.rq_job_id = None
        job.next_attempt_at = None
        s.add(job)
        if execution is not None:
            execution.status = ExecutionStatus.pending.value
            execution.error = None
            execution.finished_at = None
            s.add(execution)
            s.add(ManualRetry(execution_id=execution.id, user_id=job.user_id))
    redis.set(waiting_key(job.user_id), 1, ex=WAITING_FLAG_TTL_S)
    dispatch(db=db, redis=redis, job_id=job_id, settings=settings)
    return get_job(db, job_id)
