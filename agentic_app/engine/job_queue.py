"""The job queue: job_queue rows in the database, RQ jobs in Redis, and every state change.

The database is the truth; Redis carries only what can be rebuilt from it
(:mod:`agentic_app.engine.queue_maintenance` rebuilds it).

* **Enqueue** writes the ``workflow_executions`` row and the ``job_queue`` row (pending) in one
  transaction, under a Redis lock that makes the daily cap and the queue-size cap exact, then
  *dispatches* the job.
* **Dispatch** = take a per-user slot (an atomic Lua check on the Redis set
  ``agentic:q:slots:<user>``: at most ``max_concurrent_per_user`` members), mark the row
  dispatched (``rq_job_id`` set, conditional UPDATE) and push the RQ job
  ``agentic-<job id>-<attempt>`` onto the queue of its priority. Without a free slot the row
  stays pending with ``rq_job_id`` NULL ("waiting for a slot"); when an attempt ends its slot is
  freed and the user's next waiting job (priority, then FIFO) is dispatched - event driven.
* **Attempts**: :func:`claim_attempt` (pending -> running) and :func:`finish_attempt` are
  conditional on ``(attempt, status)``, so a stale RQ job, a duplicate RQ job or a zombie
  attempt can never overwrite a newer state.
* **Retries**: a retryable failure with retries left becomes pending again with
  ``attempt + 1``; it keeps its slot through the backoff (1 s, 5 s, 15 s) and waits in the
  Redis sorted set ``agentic:q:due`` until the worker maintenance thread moves it to RQ.
* **Cancel**: pending -> cancelled at once (RQ job removed, slot freed); running -> a cancel
  flag the task polls (cooperative: nodes are cancelled, ExecutionFinished written), and after
  ``grace_s`` RQ's stop-job command as a fallback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import (
    ExecutionStatus,
    JobQueueEntry,
    JobStatus,
    ScheduledJob,
    Workflow,
    WorkflowExecution,
    utcnow,
)
from agentic_app.domain.errors import InvalidInputError, LimitExceededError, NotFoundError
from agentic_app.engine.queues import queue_for_priority
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

TASK_FUNC = "agentic_app.engine.tasks.run_execution"
"""Dotted path of the RQ job function (arguments: job id, attempt)."""
RQ_TIMEOUT_MARGIN_S = 30
"""RQ's job_timeout = QUEUE_CONFIG.job_timeout_seconds + this, so the executor's own timeout
fires first (events written) and RQ's is the backstop."""
RQ_RESULT_TTL_S = 600
"""How long RQ keeps a finished job's result (the database keeps the history)."""
RQ_FAILURE_TTL_S = 86_400
"""How long RQ keeps a failed job in its FailedJobRegistry."""
SLOTS_PREFIX = "agentic:q:slots:"
"""Redis set per user: ids of jobs holding a concurrency slot (dispatched, running, backoff)."""
DUE_KEY = "agentic:q:due"
"""Redis sorted set of retries waiting for their backoff: member ``job:attempt:priority``."""
CANCEL_PREFIX = "agentic:q:cancel:"
"""Redis key ``agentic:q:cancel:<job id>`` = attempt to cancel (polled by the running task)."""
ENQUEUE_LOCK = "agentic:q:lock:enqueue"
"""Redis lock serialising the limit checks + inserts of enqueue (exact caps)."""
CANCEL_FLAG_TTL_S = 3600
"""Lifetime of a cancel flag."""
DEFAULT_CANCEL_GRACE_S = 10.0
"""How long cancel waits for a cooperative stop before RQ's stop-job command."""
TERMINAL = (JobStatus.completed.value, JobStatus.failed.value, JobStatus.cancelled.value)
"""Statuses a job never leaves (except by a manual retry)."""

_GATE_LUA = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
_POP_DUE_LUA = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, m in ipairs(items) do redis.call('ZREM', KEYS[1], m) end
return items
"""
REDIS_ERRORS = (redis_lib.RedisError, OSError)
"""Errors of an unreachable Redis: state changes already committed stay; maintenance repairs."""


class DuplicateJobError(InvalidInputError):
    """A job with the same ``dedupe_key`` exists; ``job_id`` is that job's id."""

    def __init__(self, message: str, *, job_id: int | None):
        super().__init__(message, field="dedupe_key")
        self.job_id = job_id


@dataclass(frozen=True)
class Attempt:
    """What a task needs to run one claimed attempt."""

    job_id: int
    attempt: int
    execution_id: int
    user_id: int
    workflow_id: int
    definition: dict[str, Any]
    trigger_payload: dict[str, Any]
    first_seq: int


def rq_job_id(job_id: int, attempt: int) -> str:
    """The RQ job id of one attempt of a job."""
    return f"agentic-{job_id}-{attempt}"


def slots_key(user_id: int) -> str:
    """The Redis set of the user's slot holders."""
    return f"{SLOTS_PREFIX}{user_id}"


def cancel_key(job_id: int) -> str:
    """The Redis key of a job's cancel flag."""
    return f"{CANCEL_PREFIX}{job_id}"


def due_member(job_id: int, attempt: int, priority: int) -> str:
    """The member of :data:`DUE_KEY` for a retry waiting for its backoff."""
    return f"{job_id}:{attempt}:{priority}"


def _utc_midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# -- enqueue ------------------------------------------------------------------------------


def enqueue_execution(
    *,
    database_url: str,
    redis: redis_lib.Redis,
    workflow_id: int,
    user_id: int,
    trigger_type: str = "manual",
    trigger_payload: dict[str, Any] | None = None,
    priority: int = 0,
    scheduled_job_id: int | None = None,
    dedupe_key: str | None = None,
    settings: Settings | None = None,
) -> JobQueueEntry:
    """Create the execution + job rows (pending) and dispatch the job; return the job row.

    Raises NotFoundError (workflow missing or not the user's), DuplicateJobError
    (``dedupe_key`` taken; nothing created), LimitExceededError with ``limit`` =
    ``"max_executions_per_day"`` (the user's executions created since 00:00 UTC) or
    ``"max_queue_size"`` (pending jobs, waiting ones included).
    """
    settings = settings or get_settings()
    with redis.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=10):
        try:
            with session_scope(database_url) as s:
                job = _insert_job(s, settings, workflow_id=workflow_id, user_id=user_id,
                                  trigger_type=trigger_type, trigger_payload=trigger_payload,
                                  priority=priority, scheduled_job_id=scheduled_job_id,
                                  dedupe_key=dedupe_key)
        except IntegrityError:
            if dedupe_key is None:
                raise
            existing = _find_dedupe(database_url, dedupe_key)
            raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                    job_id=existing) from None
    try:
        dispatch(database_url=database_url, redis=redis, job_id=job.id, settings=settings)
    except REDIS_ERRORS:  # acknowledged: the row is committed; maintenance dispatches it
        log.warning("job %s committed but not dispatched (Redis error)", job.id, exc_info=True)
    return get_job(database_url, job.id)


def _find_dedupe(database_url: str, dedupe_key: str) -> int | None:
    with session_scope(database_url) as s:
        row = s.exec(select(JobQueueEntry).where(JobQueueEntry.dedupe_key == dedupe_key)).first()
        return row.id if row else None


def _insert_job(s: Any, settings: Settings, *, workflow_id: int, user_id: int,
                trigger_type: str, trigger_payload: dict | None, priority: int,
                scheduled_job_id: int | None, dedupe_key: str | None) -> JobQueueEntry:
    if dedupe_key is not None:
        dup = s.exec(select(JobQueueEntry.id).where(JobQueueEntry.dedupe_key == dedupe_key)).first()
        if dup is not None:
            raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists", job_id=dup)
    workflow = s.get(Workflow, workflow_id)
    if workflow is None or workflow.user_id != user_id:
        raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
    queued = s.exec(select(func.count()).select_from(JobQueueEntry)
                    .where(JobQueueEntry.status == JobStatus.pending.value)).one()
    cap = settings.queue_config.max_queue_size
    if queued >= cap:
        raise LimitExceededError(f"the queue is full ({queued} of {cap} jobs pending)",
                                 limit="max_queue_size")
    now = utcnow()
    today = s.exec(select(func.count()).select_from(WorkflowExecution).where(
        WorkflowExecution.user_id == user_id,
        WorkflowExecution.created_at >= _utc_midnight(now))).one()
    daily = settings.limits.max_executions_per_day
    if today >= daily:
        raise LimitExceededError(
            f"user {user_id} reached {daily} executions today (UTC); try again after midnight",
            limit="max_executions_per_day")
    execution = WorkflowExecution(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        status=ExecutionStatus.pending.value, trigger_type=trigger_type,
        trigger_payload=dict(trigger_payload or {}), attempt=1, created_at=now)
    s.add(execution)
    s.flush()
    job = JobQueueEntry(
        workflow_id=workflow_id, user_id=user_id, execution_id=execution.id,
        scheduled_job_id=scheduled_job_id, dedupe_key=dedupe_key, priority=priority,
        max_retries=settings.queue_config.max_retries, scheduled_at=now, created_at=now,
        attempt=1)
    s.add(job)
    s.flush()
    return job


# -- dispatch -----------------------------------------------------------------------------


def enqueue_rq(redis: redis_lib.Redis, *, job_id: int, attempt: int, priority: int,
               settings: Settings) -> str:
    """Push the RQ job of one attempt onto its priority queue; returns the RQ job id."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(queue_for_priority(priority), connection=redis, serializer=JSONSerializer)
    rid = rq_job_id(job_id, attempt)
    queue.enqueue_call(
        TASK_FUNC, args=(job_id, attempt), job_id=rid,
        timeout=settings.queue_config.job_timeout_seconds + RQ_TIMEOUT_MARGIN_S,
        result_ttl=RQ_RESULT_TTL_S, failure_ttl=RQ_FAILURE_TTL_S,
        description=f"execution job {job_id} attempt {attempt}")
    return rid


def dispatch(*, database_url: str, redis: redis_lib.Redis, job_id: int,
             settings: Settings | None = None) -> str:
    """Try to start a waiting job: ``"dispatched"``, ``"full"`` (no slot) or ``"skipped"``."""
    settings = settings or get_settings()
    with session_scope(database_url) as s:
        job = s.get(JobQueueEntry, job_id)
        if job is None or job.status != JobStatus.pending.value or job.rq_job_id is not None:
            return "skipped"
        user_id, attempt, priority = job.user_id, job.attempt, job.priority
    cap = settings.limits.max_concurrent_per_user
    if not redis.eval(_GATE_LUA, 1, slots_key(user_id), str(job_id), cap):
        return "full"
    rid = rq_job_id(job_id, attempt)
    with session_scope(database_url) as s:
        claimed = s.execute(
            sa.update(JobQueueEntry)
            .where(col(JobQueueEntry.id) == job_id,
                   col(JobQueueEntry.status) == JobStatus.pending.value,
                   col(JobQueueEntry.attempt) == attempt,
                   col(JobQueueEntry.rq_job_id).is_(None))
            .values(rq_job_id=rid)).rowcount
    if not claimed:
        if get_job(database_url, job_id).status in TERMINAL:
            redis.srem(slots_key(user_id), str(job_id))
        return "skipped"
    enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority, settings=settings)
    return "dispatched"


def dispatch_waiting(*, database_url: str, redis: redis_lib.Redis, user_id: int,
                     settings: Settings | None = None) -> int:
    """Dispatch the user's waiting jobs (priority, then FIFO) while slots are free."""
    settings = settings or get_settings()
    started = 0
    while True:
        with session_scope(database_url) as s:
            ids = s.exec(
                select(JobQueueEntry.id).where(
                    JobQueueEntry.user_id == user_id,
                    JobQueueEntry.status == JobStatus.pending.value,
                    col(JobQueueEntry.rq_job_id).is_(None))
                .order_by(col(JobQueueEntry.priority).desc(), col(JobQueueEntry.id))
                .limit(20)).all()
        if not ids:
            return started
        progressed = False
        for job_id in ids:
            outcome = dispatch(database_url=database_url, redis=redis, job_id=job_id,
                               settings=settings)
            if outcome == "full":
                return started
            if outcome == "dispatched":
                started += 1
                progressed = True
        if not progressed:
            return started


def release_slot(*, database_url: str, redis: redis_lib.Redis, user_id: int, job_id: int,
                 settings: Settings | None = None) -> None:
    """Free a job's slot and dispatch the user's next waiting job (Redis errors are logged)."""
    try:
        redis.srem(slots_key(user_id), str(job_id))
        dispatch_waiting(database_url=database_url, redis=redis, user_id=user_id,
                         settings=settings)
    except REDIS_ERRORS:
        log.warning("could not free slot of job %s (maintenance will)", job_id, exc_info=True)


def pop_due_retries(*, redis: redis_lib.Redis, settings: Settings | None = None,
                    now: float | None = None) -> int:
    """Move retries whose backoff is over from :data:`DUE_KEY` to RQ; returns how many."""
    settings = settings or get_settings()
    items = redis.eval(_POP_DUE_LUA, 1, DUE_KEY, now if now is not None else time.time())
    for raw in items:
        job_id, attempt, priority = (int(p) for p in raw.decode().split(":"))
        enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority, settings=settings)
    return len(items)


# -- attempts -----------------------------------------------------------------------------


def claim_attempt(*, database_url: str, job_id: int, attempt: int,
                  worker_name: str | None = None) -> Attempt | None:
    """pending -> running for this attempt; None when the RQ job is stale (state moved on)."""
    now = utcnow()
    with session_scope(database_url) as s:
        claimed = s.execute(
            sa.update(JobQueueEntry)
            .where(col(JobQueueEntry.id) == job_id, col(JobQueueEntry.attempt) == attempt,
                   col(JobQueueEntry.status) == JobStatus.pending.value)
            .values(status=JobStatus.running.value, started_at=now, heartbeat_at=now,
                    next_attempt_at=None, worker_name=worker_name)).rowcount
        if not claimed:
            return None
        job = s.get(JobQueueEntry, job_id)
        execution = s.get(WorkflowExecution, job.execution_id)
        workflow = s.get(Workflow, job.workflow_id)
        execution.status = ExecutionStatus.running.value
        execution.attempt = attempt
        execution.started_at = execution.started_at or now
        execution.finished_at = None
        s.add(execution)
        from agentic_app.db.models import ExecutionEvent

        max_seq = s.exec(select(func.max(ExecutionEvent.seq))
                         .where(ExecutionEvent.execution_id == execution.id)).one()
        return Attempt(job_id=job_id, attempt=attempt, execution_id=execution.id,
                       user_id=job.user_id, workflow_id=job.workflow_id,
                       definition=dict(workflow.definition if workflow else {}),
                       trigger_payload=dict(execution.trigger_payload or {}),
                       first_seq=(max_seq or 0) + 1)


def heartbeat(*, database_url: str, job_id: int, attempt: int) -> bool:
    """Record that this running attempt is alive; False once it is no longer current."""
    with session_scope(database_url) as s:
        return bool(s.execute(
            sa.update(JobQueueEntry)
            .where(col(JobQueueEntry.id) == job_id, col(JobQueueEntry.attempt) == attempt,
                   col(JobQueueEntry.status) == JobStatus.running.value)
            .values(heartbeat_at=utcnow())).rowcount)


def retry_delay(settings: Settings, retry_number: int) -> int:
    """Backoff before automatic retry number ``retry_number`` (1-based)."""
    delays = settings.queue_config.retry_delay_seconds or [0]
    return delays[min(retry_number, len(delays)) - 1]


def finish_attempt(*, database_url: str, redis: redis_lib.Redis | None, job_id: int,
                   attempt: int, status: str, error: str | None = None,
                   retryable: bool = False, from_statuses: tuple[str, ...] = ("running",),
                   settings: Settings | None = None) -> str:
    """Record the end of an attempt; returns ``"completed"``, ``"failed"``, ``"cancelled"``,
    ``"retrying"`` or ``"stale"`` (the attempt was no longer current: nothing changed).

    A retryable failure with retries left becomes a new pending attempt after its backoff
    (keeping its slot); otherwise the job ends, its slot is freed and the user's next waiting
    job dispatched. A scheduled job's consecutive failures are counted here (final failures
    only) and it is paused, with a notification to its owner, at ``auto_pause_after_failures``.
    """
    settings = settings or get_settings()
    now = utcnow()
    with session_scope(database_url) as s:
        job = s.get(JobQueueEntry, job_id)
        if job is None or job.attempt != attempt or job.status not in from_statuses:
            return "stale"
        execution = s.get(WorkflowExecution, job.execution_id)
        retry = (status == JobStatus.failed.value and retryable
                 and job.retry_count < job.max_retries)
        if retry:
            delay = retry_delay(settings, job.retry_count + 1)
            new_values: dict[str, Any] = dict(
                status=JobStatus.pending.value, retry_count=job.retry_count + 1,
                attempt=attempt + 1, error_message=error, next_attempt_at=now
                + timedelta(seconds=delay), rq_job_id=rq_job_id(job_id, attempt + 1),
                heartbeat_at=None, worker_name=None)
            exec_status = ExecutionStatus.pending.value
        else:
            delay = 0
            new_values = dict(status=status, completed_at=now, error_message=error,
                              heartbeat_at=None, next_attempt_at=None)
            exec_status = status
        done = s.execute(
            sa.update(JobQueueEntry)
            .where(col(JobQueueEntry.id) == job_id, col(JobQueueEntry.attempt) == attempt,
                   col(JobQueueEntry.status).in_(from_statuses))
            .values(**new_values)).rowcount
        if not done:
            return "stale"
        if execution is not None:
            execution.status = exec_status
            execution.error = error
            execution.finished_at = None if retry else now
            s.add(execution)
        if not retry and job.scheduled_job_id is not None:
            _count_scheduled_outcome(s, job.scheduled_job_id, status, error, settings)
        user_id, priority = job.user_id, job.priority
    if redis is None:
        return "retrying" if retry else status
    try:
        redis.delete(cancel_key(job_id))
        if retry:
            redis.zadd(DUE_KEY, {due_member(job_id, attempt + 1, priority): time.time() + delay})
    except REDIS_ERRORS:
        log.warning("job %s: Redis error after finishing attempt %s", job_id, attempt,
                    exc_info=True)
    if not retry:
        release_slot(database_url=database_url, redis=redis, user_id=user_id, job_id=job_id,
                     settings=settings)
    return "retrying" if retry else status


def _count_scheduled_outcome(s: Any, scheduled_job_id: int, status: str, error: str | None,
                             settings: Settings) -> None:
    from agentic_app.db.trading_models import Notification, NotificationLevel

    sj = s.get(ScheduledJob, scheduled_job_id)
    if sj is None or status == JobStatus.cancelled.value:
        return
    if status == JobStatus.completed.value:
        sj.consecutive_failures = 0
    else:
        sj.consecutive_failures += 1
        threshold = settings.limits.auto_pause_after_failures
        if sj.consecutive_failures >= threshold and sj.is_active:
            sj.is_active = False
            sj.paused_reason = (f"paused after {sj.consecutive_failures} consecutive failed "
                                f"executions; last error: {error or 'unknown'}")[:500]
            s.add(Notification(
                user_id=sj.user_id, level=NotificationLevel.error.value,
                title=f"Scheduled job {sj.name or sj.id} paused",
                body=sj.paused_reason))
    sj.updated_at = utcnow()
    s.add(sj)


# -- cancel and manual retry --------------------------------------------------------------


def cancel_job(*, database_url: str, redis: redis_lib.Redis, job_id: int,
               settings: Settings | None = None,
               grace_s: float = DEFAULT_CANCEL_GRACE_S) -> JobQueueEntry:
    """Cancel a pending or running job (no retry follows); returns the row afterwards.

    A pending job is cancelled at once. A running one is asked to stop (cancel flag polled by
    its task: running nodes are cancelled and ExecutionFinished written); if it is still
    running after ``grace_s``, RQ's stop-job command kills its work-horse and the job is
    marked cancelled here. Cancelling a finished job raises InvalidInputError.
    """
    settings = settings or get_settings()
    job = get_job(database_url, job_id)
    if job.status in TERMINAL:
        if job.status == JobStatus.cancelled.value:
            return job
        raise InvalidInputError(f"job {job_id} is already {job.status}", field="status")
    if job.status == JobStatus.pending.value:
        outcome = finish_attempt(database_url=database_url, redis=None, job_id=job_id,
                                 attempt=job.attempt, status=JobStatus.cancelled.value,
                                 error="cancelled while pending", from_statuses=("pending",),
                                 settings=settings)
        if outcome == JobStatus.cancelled.value:
            _drop_rq_job(redis, job)
            release_slot(database_url=database_url, redis=redis, user_id=job.user_id,
                         job_id=job_id, settings=settings)
            return get_job(database_url, job_id)
        job = get_job(database_url, job_id)  # it started meanwhile
        if job.status != JobStatus.running.value:
            return job
    redis.set(cancel_key(job_id), job.attempt, ex=CANCEL_FLAG_TTL_S)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        current = get_job(database_url, job_id)
        if current.status != JobStatus.running.value or current.attempt != job.attempt:
            return current
        time.sleep(0.1)
    _stop_rq_job(redis, rq_job_id(job_id, job.attempt))
    finish_attempt(database_url=database_url, redis=redis, job_id=job_id, attempt=job.attempt,
                   status=JobStatus.cancelled.value,
                   error=f"cancelled: stopped by the queue after {grace_s:g} s",
                   settings=settings)
    return get_job(database_url, job_id)


def _drop_rq_job(redis: redis_lib.Redis, job: JobQueueEntry) -> None:
    from rq import Queue
    from rq.serializers import JSONSerializer

    try:
        redis.zrem(DUE_KEY, due_member(job.id, job.attempt, job.priority))
        if job.rq_job_id:
            queue = Queue(queue_for_priority(job.priority), connection=redis,
                          serializer=JSONSerializer)
            queue.remove(job.rq_job_id)
            redis.delete(f"rq:job:{job.rq_job_id}")
    except REDIS_ERRORS:
        log.warning("could not remove RQ job of job %s (it will be a no-op)", job.id)


def _stop_rq_job(redis: redis_lib.Redis, rid: str) -> None:
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.serializers import JSONSerializer

    try:
        send_stop_job_command(redis, rid, serializer=JSONSerializer)
    except (InvalidJobOperation, NoSuchJobError, *REDIS_ERRORS) as exc:
        log.info("stop-job %s not sent: %s", rid, exc)


def retry_job(*, database_url: str, redis: redis_lib.Redis, job_id: int,
              settings: Settings | None = None) -> JobQueueEntry:
    """Manually retry a failed or cancelled job: a new attempt of the same execution (its
    history is kept), automatic retries counted afresh. Raises InvalidInputError otherwise,
    LimitExceededError(limit="max_queue_size") when the queue is full."""
    settings = settings or get_settings()
    with redis.lock(ENQUEUE_LOCK, timeout=10, blocking_timeout=10):
        with session_scope(database_url) as s:
            job = s.get(JobQueueEntry, job_id)
            if job is None:
                raise NotFoundError(f"job {job_id} not found", field="job_id")
            if job.status not in (JobStatus.failed.value, JobStatus.cancelled.value):
                raise InvalidInputError(
                    f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried",
                    field="status")
            queued = s.exec(select(func.count()).select_from(JobQueueEntry)
                            .where(JobQueueEntry.status == JobStatus.pending.value)).one()
            if queued >= settings.queue_config.max_queue_size:
                raise LimitExceededError("the queue is full", limit="max_queue_size")
            job.status = JobStatus.pending.value
            job.attempt += 1
            job.retry_count = 0
            job.error_message = None
            job.completed_at = None
            job.rq_job_id = None
            job.next_attempt_at = None
            s.add(job)
            execution = s.get(WorkflowExecution, job.execution_id)
            if execution is not None:
                execution.status = ExecutionStatus.pending.value
                execution.error = None
                execution.finished_at = None
                s.add(execution)
    dispatch(database_url=database_url, redis=redis, job_id=job_id, settings=settings)
    return get_job(database_url, job_id)


def get_job(database_url: str, job_id: int) -> JobQueueEntry:
    """The job row (detached); NotFoundError when missing."""
    with session_scope(database_url) as s:
        job = s.get(JobQueueEntry, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", field="job_id")
        return job


def queue_depth(database_url: str) -> int:
    """Pending jobs (waiting for a slot, dispatched or in backoff): what max_queue_size caps."""
    with session_scope(database_url) as s:
        return s.exec(select(func.count()).select_from(JobQueueEntry)
                      .where(JobQueueEntry.status == JobStatus.pending.value)).one()
