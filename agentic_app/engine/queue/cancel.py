"""Cancel: a pending job at once, a running one cooperatively (a cancel flag its task polls)
with RQ's stop-job command as the fallback after a grace period."""

from __future__ import annotations

import time

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.db.models import JobQueueEntry, JobStatus
from agentic_app.domain.errors import InvalidInputError
from agentic_app.engine.queue.attempts import finish_attempt
from agentic_app.engine.queue.dispatch import release_slot
from agentic_app.engine.queue.keys import CANCEL_FLAG_TTL_S, cancel_key, rq_job_id
from agentic_app.engine.queue.rows import TERMINAL, get_job
from agentic_app.engine.queue.rq_jobs import drop_rq_job, stop_rq_job
from agentic_app.settings import Settings, get_settings

DEFAULT_CANCEL_GRACE_S = 10.0
"""How long cancel waits for a cooperative stop before RQ's stop-job command."""


def cancel_job(*, db: Database, redis: redis_lib.Redis, job_id: int,
               settings: Settings | None = None,
               grace_s: float = DEFAULT_CANCEL_GRACE_S) -> JobQueueEntry:
    """Cancel a pending or running job (no retry follows); returns the row afterwards.

    A pending job is cancelled at once. A running one is asked to stop (cancel flag polled by
    its task: running nodes are cancelled and ExecutionFinished written); if it is still
    running after ``grace_s``, RQ's stop-job command kills its work-horse and the job is
    marked cancelled here. An attempt that fails while being stopped is not retried (the
    task sees the flag); should a retry be scheduled anyway, it is cancelled as well.
    Cancelling a finished job raises InvalidInputError.
    """
    settings = settings or get_settings()
    job = get_job(db, job_id)
    if job.status in TERMINAL:
        if job.status == JobStatus.cancelled.value:
            return job
        raise InvalidInputError(f"job {job_id} is already {job.status}", field="status")
    if job.status == JobStatus.pending.value:
        outcome = finish_attempt(db=db, redis=None, job_id=job_id, attempt=job.attempt,
                                 status=JobStatus.cancelled.value,
                                 error="cancelled while pending", from_statuses=("pending",),
                                 settings=settings)
        if outcome == JobStatus.cancelled.value:
            drop_rq_job(redis, job)
            release_slot(db=db, redis=redis, user_id=job.user_id, job_id=job_id,
                         settings=settings)
            return get_job(db, job_id)
        job = get_job(db, job_id)  # it started meanwhile
        if job.status != JobStatus.running.value:
            return job
    redis.set(cancel_key(job_id), job.attempt, ex=CANCEL_FLAG_TTL_S)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        current = get_job(db, job_id)
        if current.attempt != job.attempt and current.status not in TERMINAL:
            # the attempt failed on its own while being stopped and a retry was scheduled:
            # the user asked for no further attempt, so that one is cancelled too
            return cancel_job(db=db, redis=redis, job_id=job_id, settings=settings,
                              grace_s=grace_s)
        if current.status != JobStatus.running.value or current.attempt != job.attempt:
            return current
        time.sleep(0.1)
    stop_rq_job(redis, rq_job_id(job_id, job.attempt))
    finish_attempt(db=db, redis=redis, job_id=job_id, attempt=job.attempt,
                   status=JobStatus.cancelled.value,
                   error=f"cancelled: stopped by the queue after {grace_s:g} s",
                   settings=settings)
    return get_job(db, job_id)
