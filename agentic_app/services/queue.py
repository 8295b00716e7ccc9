"""The job queue as users see it: status counts, workers, throughput, job lists, cancel and
retry, one by one or in bulk (one result per job).

Wraps the engine's queue (:mod:`agentic_app.engine.queue`) with ownership checks: another
user's job is reported as not found and nothing changes. Counts, lists and throughput are the
user's own; the queue depth, its cap and the workers are shared facts of the one queue.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis as redis_lib
from sqlmodel import col, func, select, true

from agentic_app.db.models import JobQueueEntry, JobStatus, utcnow
from agentic_app.db.queries import count_rows, filter_owned
from agentic_app.domain.errors import (
    AgenticError,
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from agentic_app.domain.triggers import priority_level
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.names import QUEUE_NAMES
from agentic_app.engine.queue.retry import retry_job
from agentic_app.engine.queue.rows import queue_depth
from agentic_app.services.base import Actor, Service

log = logging.getLogger(__name__)

STATUSES = tuple(s.value for s in JobStatus)
"""Every job status, in lifecycle order."""
PRIORITY_LEVELS = ("high", "normal", "low")
"""Priority bands (queues) of the seed's integer priority: > 0, 0, < 0."""
API_CANCEL_GRACE_S = 5.0
"""How long a cancel request waits for a running job to stop by itself before RQ stops it."""
BULK_CANCEL_GRACE_S = 1.0
"""The same wait for each running job of a bulk cancel."""
MAX_BULK = 500
"""Most jobs one bulk action touches."""


def job_view(job: JobQueueEntry) -> dict[str, Any]:
    """API/UI view of a job row: its fields plus priority band and slot wait."""
    data = job.model_dump(exclude={"dedupe_key", "rq_job_id", "heartbeat_at", "worker_name"})
    data["priority_level"] = priority_level(job.priority)
    data["waiting_for_slot"] = job.status == JobStatus.pending.value and job.rq_job_id is None
    data["worker_name"] = job.worker_name
    return data


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


def _bulk_result(job_id: int, outcome: str, *, reason: str | None = None,
                 job: JobQueueEntry | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "ok": outcome == "ok", "outcome": outcome, "reason": reason,
            "job": job_view(job) if job is not None else None}


class QueueService(Service):
    """The acting user's jobs in the queue."""

    view = staticmethod(job_view)

    def get(self, actor: Actor, job_id: int) -> JobQueueEntry:
        """The job row if it belongs to the user (the one ownership check of jobs);
        NotFoundError otherwise."""
        with self.db.session() as s:
            job = s.get(JobQueueEntry, job_id)
            if job is None or job.user_id != actor.id:
                raise NotFoundError(f"job {job_id} not found", field="job_id")
            return job

    def list(self, actor: Actor, *, statuses: list[str] | None = None,
             workflow_id: int | None = None, scheduled_job_id: int | None = None,
             priority: str | None = None, created_after: datetime | None = None,
             created_before: datetime | None = None, offset: int = 0, limit: int = 50,
             oldest_first: bool = False) -> tuple[list[JobQueueEntry], int]:
        """The user's jobs filtered and paginated; (rows, total). ``priority`` is a band name."""
        with self.db.session() as s:
            stmt = filter_owned(select(JobQueueEntry), JobQueueEntry, user_id=actor.id,
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

    def ids(self, actor: Actor, *, status: str, limit: int = MAX_BULK) -> list[int]:
        """Ids of the user's jobs in ``status`` (for bulk actions), oldest first."""
        with self.db.session() as s:
            return [int(i) for i in s.exec(select(JobQueueEntry.id).where(
                JobQueueEntry.user_id == actor.id, JobQueueEntry.status == status)
                .order_by(col(JobQueueEntry.id)).limit(limit))]

    def status(self, actor: Actor, *, window_minutes: int = 15,
               now: datetime | None = None) -> dict[str, Any]:
        """Counts per status and per priority band (the user's; every user's for an admin),
        waiting-for-slot count, throughput over the last ``window_minutes``, the queue depth
        and cap, and the workers (empty, with ``redis_ok`` false, while Redis does not
        answer); a worker's current job is named to an admin or to that job's owner only."""
        now = now or utcnow()
        since = now - timedelta(minutes=window_minutes)
        counts = dict.fromkeys(STATUSES, 0)
        by_priority = {level: dict.fromkeys(STATUSES, 0) for level in PRIORITY_LEVELS}
        mine = true() if actor.is_admin else JobQueueEntry.user_id == actor.id
        with self.db.session() as s:
            rows = s.exec(select(JobQueueEntry.priority, JobQueueEntry.status, func.count())
                          .where(mine)
                          .group_by(JobQueueEntry.priority, JobQueueEntry.status)).all()
            for prio, status, n in rows:
                counts[status] = counts.get(status, 0) + n
                band = by_priority[priority_level(prio)]
                band[status] = band.get(status, 0) + n
            waiting = s.exec(select(func.count()).select_from(JobQueueEntry).where(
                mine,
                JobQueueEntry.status == JobStatus.pending.value,
                col(JobQueueEntry.rq_job_id).is_(None))).one()
            finished = dict(s.exec(
                select(JobQueueEntry.status, func.count())
                .where(mine, col(JobQueueEntry.completed_at) >= since)
                .group_by(JobQueueEntry.status)).all())
        workers: list[dict[str, Any]] = []
        rq_lengths: dict[str, int] = {}
        redis = self._app.redis_or_none()
        redis_ok = redis is not None
        if redis is not None:
            try:
                workers, rq_lengths = _workers(redis), _rq_lengths(redis)
                if not actor.is_admin:
                    self._hide_others_jobs(actor, workers)
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
            "queue": {"depth": int(queue_depth(self.db)),
                      "max_queue_size": self.settings.queue_config.max_queue_size,
                      "rq_lengths": rq_lengths},
            "workers": workers,
            "workers_online": len(workers),
            "redis_ok": redis_ok,
        }

    def _hide_others_jobs(self, actor: Actor, workers: list[dict[str, Any]]) -> None:
        """Blank each worker's current job unless it is one of ``actor``'s jobs."""
        busy = [w["current_job_id"] for w in workers if w["current_job_id"]]
        if not busy:
            return
        with self.db.session() as s:
            own = set(s.exec(select(JobQueueEntry.rq_job_id).where(
                JobQueueEntry.user_id == actor.id, col(JobQueueEntry.rq_job_id).in_(busy))))
        for worker in workers:
            if worker["current_job_id"] not in own:
                worker["current_job_id"] = None

    def throughput_series(self, actor: Actor, *, minutes: int = 60,
                          now: datetime | None = None) -> list[dict[str, Any]]:
        """Per minute over the last ``minutes``: completed, failed and failure rate (%)."""
        now = (now or utcnow()).replace(second=0, microsecond=0) + timedelta(minutes=1)
        since = now - timedelta(minutes=minutes)
        buckets = {i: {"completed": 0, "failed": 0} for i in range(minutes)}
        with self.db.session() as s:
            rows = s.exec(select(JobQueueEntry.status, JobQueueEntry.completed_at).where(
                JobQueueEntry.user_id == actor.id,
                col(JobQueueEntry.completed_at) >= since)).all()
        for status, done in rows:
            if done.tzinfo is None:
                done = done.replace(tzinfo=UTC)
            index = int((done - since) / timedelta(minutes=1))
            if 0 <= index < minutes and status in ("completed", "failed"):
                buckets[index][status] += 1
        out = []
        for i in range(minutes):
            b = buckets[i]
            total = b["completed"] + b["failed"]
            out.append({"minute": (since + timedelta(minutes=i)).strftime("%H:%M"),
                        "completed": b["completed"], "failed": b["failed"],
                        "failure_rate": round(100 * b["failed"] / total, 1) if total else 0})
        return out

    def cancel(self, actor: Actor, job_id: int, *,
               grace_s: float = API_CANCEL_GRACE_S) -> JobQueueEntry:
        """Cancel the user's pending or running job; ConflictError when it already finished."""
        self.get(actor, job_id)
        try:
            return cancel_job(db=self.db, redis=self._app.redis, job_id=job_id,
                              settings=self.settings, grace_s=grace_s)
        except InvalidInputError as exc:
            raise _as_conflict(exc) from None

    def retry(self, actor: Actor, job_id: int) -> JobQueueEntry:
        """Retry the user's failed or cancelled job (new attempt, same execution history);
        ConflictError when it is not failed or cancelled, LimitExceededError when the queue
        is full."""
        self.get(actor, job_id)
        try:
            return retry_job(db=self.db, redis=self._app.redis, job_id=job_id,
                             settings=self.settings)
        except InvalidInputError as exc:
            raise _as_conflict(exc) from None

    def bulk_retry(self, actor: Actor, job_ids: list[int]) -> list[dict[str, Any]]:
        """Retry each of ``job_ids`` (at most ``MAX_BULK``, repeats once): one result per job,
        in order - ``ok`` (with the job), ``not_found`` (unknown or another user's: nothing
        changes), ``not_retryable`` (not failed or cancelled), ``limit_exceeded`` (queue
        full) or ``error`` - each with its reason. One job's failure never stops the rest."""
        return self._bulk(actor, job_ids, lambda job_id: self.retry(actor, job_id),
                          refused="not_retryable")

    def bulk_cancel(self, actor: Actor, job_ids: list[int], *,
                    grace_s: float = BULK_CANCEL_GRACE_S) -> list[dict[str, Any]]:
        """Cancel each of ``job_ids`` like :meth:`bulk_retry`; refused jobs (already
        finished) are ``not_cancellable``."""
        return self._bulk(actor, job_ids,
                          lambda job_id: self.cancel(actor, job_id, grace_s=grace_s),
                          refused="not_cancellable")

    def _bulk(self, actor: Actor, job_ids: list[int], act: Any, *,
              refused: str) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(int(i) for i in job_ids))
        if len(ids) > MAX_BULK:
            raise InvalidInputError(f"at most {MAX_BULK} jobs per bulk action, got {len(ids)}",
                                    field="job_ids")
        self._app.redis  # noqa: B018 - no Redis: refuse the whole request (503) up front
        results = []
        for job_id in ids:
            try:
                results.append(_bulk_result(job_id, "ok", job=act(job_id)))
            except NotFoundError as exc:
                results.append(_bulk_result(job_id, "not_found", reason=exc.message))
            except ConflictError as exc:
                results.append(_bulk_result(job_id, refused, reason=exc.message))
            except LimitExceededError as exc:
                results.append(_bulk_result(job_id, "limit_exceeded", reason=exc.message))
            except AgenticError as exc:
                results.append(_bulk_result(job_id, "error", reason=exc.message))
            except Exception as exc:  # one job's failure is reported, the others go on
                log.warning("bulk action on job %s failed", job_id, exc_info=True)
                results.append(_bulk_result(job_id, "error",
                                            reason=f"{type(exc).__name__}: {exc}"))
        return results


def _as_conflict(exc: InvalidInputError) -> InvalidInputError:
    """A refusal of the engine because of the job's state, as a ConflictError (409)."""
    if isinstance(exc, NotFoundError):
        return exc
    return ConflictError(exc.message, field=exc.field or "status")
