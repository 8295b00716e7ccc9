"""The job queue as users see it: status counts, workers, throughput, job lists, cancel, retry.

Wraps the engine's queue (:mod:`agentic_app.engine.queue`) with ownership checks: another
user's job is reported as not found and nothing changes. Counts, lists and throughput are the
user's own; the queue depth, its cap and the workers are shared facts of the one queue.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import redis as redis_lib
from sqlmodel import col, func, select

from agentic_app.db.engine import Database, session_scope
from agentic_app.db.models import JobQueueEntry, JobStatus, utcnow
from agentic_app.db.queries import count_rows, filter_owned
from agentic_app.domain.errors import ConflictError, InvalidInputError, NotFoundError
from agentic_app.domain.triggers import priority_level
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.names import QUEUE_NAMES
from agentic_app.engine.queue.retry import retry_job
from agentic_app.engine.queue.rows import queue_depth
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

STATUSES = tuple(s.value for s in JobStatus)
"""Every job status, in lifecycle order."""
PRIORITY_LEVELS = ("high", "normal", "low")
"""Priority bands (queues) of the seed's integer priority: > 0, 0, < 0."""
API_CANCEL_GRACE_S = 5.0
"""How long a cancel request waits for a running job to stop by itself before RQ stops it."""


def owned_job(database_url: str, *, user_id: int, job_id: int) -> JobQueueEntry:
    """The job row if it belongs to ``user_id``; NotFoundError otherwise."""
    with session_scope(database_url) as s:
        job = s.get(JobQueueEntry, job_id)
        if job is None or job.user_id != user_id:
            raise NotFoundError(f"job {job_id} not found", field="job_id")
        return job


def job_view(job: JobQueueEntry) -> dict[str, Any]:
    """API/UI view of a job row: its fields plus priority band and slot wait."""
    data = job.model_dump(exclude={"dedupe_key", "rq_job_id", "heartbeat_at", "worker_name"})
    data["priority_level"] = priority_level(job.priority)
    data["waiting_for_slot"] = job.status == JobStatus.pending.value and job.rq_job_id is None
    data["worker_name"] = job.worker_name
    return data


def list_jobs(database_url: str, *, user_id: int, statuses: list[str] | None = None,
              workflow_id: int | None = None, scheduled_job_id: int | None = None,
              priority: str | None = None, created_after: datetime | None = None,
              created_before: datetime | None = None, offset: int = 0, limit: int = 50,
              oldest_first: bool = False) -> tuple[list[JobQueueEntry], int]:
    """The user's jobs filtered and paginated; (rows, total). ``priority`` is a band name."""
    with session_scope(database_url) as s:
        stmt = filter_owned(select(JobQueueEntry), JobQueueEntry, user_id=user_id,
                            statuses=statuses, workflow_id=workflow_id,
                            scheduled_job_id=scheduled_job_id, created_after=created_after,
                            created_before=created_before)
        if priority == "high":
            stmt = stmt.where(JobQueueEntry.priority > 0)
        elif priority == "low":
            stmt = stmt.where(JobQueueEntry.priority < 0)
        elif priority == "normal":
            stmt = stmt.where(JobQueueEntry.priority == 0)
        total = count_rows(s, stmt)
        if oldest_first:  # the order workers take them: priority, then FIFO
            order = (col(JobQueueEntry.priority).desc(), col(JobQueueEntry.id))
        else:
            order = (col(JobQueueEntry.id).desc(),)
        rows = s.exec(stmt.order_by(*order).offset(offset).limit(limit))
        return list(rows), int(total)


def _workers(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    from rq import Worker

    out = []
    for worker in Worker.all(connection=redis):
        out.append({"name": worker.name, "state": str(worker.get_state()),
                    "queues": worker.queue_names(),
                    "current_job_id": worker.get_current_job_id(),
                    "last_heartbeat": worker.last_heartbeat})
    return sorted(out, key=lambda w: w["name"])


def _rq_lengths(redis: redis_lib.Redis) -> dict[str, int]:
    from rq import Queue

    return {name: Queue(name, connection=redis).count for name in QUEUE_NAMES}


def queue_status(settings: Settings, *, user_id: int, redis: redis_lib.Redis | None,
                 window_minutes: int = 15, now: datetime | None = None) -> dict[str, Any]:
    """Counts per status and per priority band (the user's), waiting-for-slot count,
    throughput over the last ``window_minutes``, the queue depth and cap, and the workers."""
    url = settings.database_url
    now = now or utcnow()
    since = now - timedelta(minutes=window_minutes)
    counts = dict.fromkeys(STATUSES, 0)
    by_priority = {level: dict.fromkeys(STATUSES, 0) for level in PRIORITY_LEVELS}
    with session_scope(url) as s:
        rows = s.exec(select(JobQueueEntry.priority, JobQueueEntry.status, func.count())
                      .where(JobQueueEntry.user_id == user_id)
                      .group_by(JobQueueEntry.priority, JobQueueEntry.status)).all()
        for prio, status, n in rows:
            counts[status] = counts.get(status, 0) + n
            band = by_priority[priority_level(prio)]
            band[status] = band.get(status, 0) + n
        waiting = s.exec(select(func.count()).select_from(JobQueueEntry).where(
            JobQueueEntry.user_id == user_id, JobQueueEntry.status == JobStatus.pending.value,
            col(JobQueueEntry.rq_job_id).is_(None))).one()
        finished = dict(s.exec(
            select(JobQueueEntry.status, func.count())
            .where(JobQueueEntry.user_id == user_id, col(JobQueueEntry.completed_at) >= since)
            .group_by(JobQueueEntry.status)).all())
    workers: list[dict[str, Any]] = []
    rq_lengths: dict[str, int] = {}
    redis_ok = redis is not None
    if redis is not None:
        try:
            workers, rq_lengths = _workers(redis), _rq_lengths(redis)
        except (redis_lib.RedisError, OSError) as exc:
            log.warning("queue status without Redis facts: %s", exc)
            redis_ok = False
    completed = int(finished.get(JobStatus.completed.value, 0))
    return {
        "counts": counts,
        "by_priority": by_priority,
        "waiting_for_slot": int(waiting),
        "throughput": {
            "window_minutes": window_minutes,
            "completed": completed,
            "failed": int(finished.get(JobStatus.failed.value, 0)),
            "cancelled": int(finished.get(JobStatus.cancelled.value, 0)),
            "completed_per_minute": round(completed / window_minutes, 3),
        },
        "queue": {"depth": int(queue_depth(Database(url))),
                  "max_queue_size": settings.queue_config.max_queue_size,
                  "rq_lengths": rq_lengths},
        "workers": workers,
        "workers_online": len(workers),
        "redis_ok": redis_ok,
    }


def cancel(settings: Settings, *, user_id: int, job_id: int, redis: redis_lib.Redis,
           grace_s: float = API_CANCEL_GRACE_S) -> JobQueueEntry:
    """Cancel the user's pending or running job; ConflictError when it already finished."""
    url = settings.database_url
    owned_job(url, user_id=user_id, job_id=job_id)
    try:
        return cancel_job(db=Database(url), redis=redis, job_id=job_id, settings=settings,
                          grace_s=grace_s)
    except InvalidInputError as exc:
        if isinstance(exc, NotFoundError):
            raise
        raise ConflictError(exc.message, field=exc.field or "status") from None


def retry(settings: Settings, *, user_id: int, job_id: int,
          redis: redis_lib.Redis) -> JobQueueEntry:
    """Retry the user's failed or cancelled job (new attempt, same execution history);
    ConflictError when it is not failed or cancelled, LimitExceededError when the queue
    is full."""
    url = settings.database_url
    owned_job(url, user_id=user_id, job_id=job_id)
    try:
        return retry_job(db=Database(url), redis=redis, job_id=job_id, settings=settings)
    except InvalidInputError as exc:
        if isinstance(exc, NotFoundError):
            raise
        raise ConflictError(exc.message, field=exc.field or "status") from None
