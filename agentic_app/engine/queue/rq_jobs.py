"""The RQ side of the queue: the job function, pushing, removing and stopping RQ jobs."""

from __future__ import annotations

import logging
from typing import Any

import redis as redis_lib

from agentic_app.db.models import JobQueueEntry
from agentic_app.engine.queue.keys import DUE_KEY, REDIS_ERRORS, due_member, rq_job_id
from agentic_app.engine.queue.names import queue_for_priority
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

TASK_FUNC = "agentic_app.engine.runtime.tasks.run_execution"
"""Dotted path of the RQ job function (arguments: job id, attempt)."""
RQ_TIMEOUT_MARGIN_S = 30
"""RQ's job_timeout = QUEUE_CONFIG.job_timeout_seconds + this, so the executor's own timeout
fires first (events written) and RQ's is the backstop."""
RQ_RESULT_TTL_S = 600
"""How long RQ keeps a finished job's result (the database keeps the history)."""
RQ_FAILURE_TTL_S = 86_400
"""How long RQ keeps a failed job in its FailedJobRegistry."""


def transaction(redis: redis_lib.Redis) -> Any:
    """A MULTI/EXEC pipeline already in transaction mode (commands run atomically)."""
    pipe = redis.pipeline(transaction=True)
    pipe.multi()
    return pipe


_queues: dict[tuple[int, str], Any] = {}


def _queue(redis: redis_lib.Redis, priority: int) -> Any:
    """The RQ queue of ``priority`` on this connection (memoised per connection: building an
    RQ Queue per push was a measurable part of an enqueue)."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    name = queue_for_priority(priority)
    key = (id(redis), name)
    queue = _queues.get(key)
    if queue is None or queue.connection is not redis:
        queue = Queue(name, connection=redis, serializer=JSONSerializer)
        if len(_queues) > 64:
            _queues.clear()
        _queues[key] = queue
    return queue


def enqueue_rq(redis: redis_lib.Redis, *, job_id: int, attempt: int, priority: int,
               settings: Settings, pipeline: Any = None) -> str:
    """Push the RQ job of one attempt onto its priority queue; returns the RQ job id.

    With ``pipeline`` (a MULTI pipeline, see :func:`transaction`) the commands are only
    queued on it: the caller executes it, together with its own commands, in one round trip.
    """
    pipe = pipeline if pipeline is not None else transaction(redis)
    rid = rq_job_id(job_id, attempt)
    _queue(redis, priority).enqueue_call(
        TASK_FUNC, args=(job_id, attempt), job_id=rid,
        timeout=settings.queue_config.job_timeout_seconds + RQ_TIMEOUT_MARGIN_S,
        result_ttl=RQ_RESULT_TTL_S, failure_ttl=RQ_FAILURE_TTL_S,
        description=f"execution job {job_id} attempt {attempt}", pipeline=pipe)
    if pipeline is None:
        pipe.execute()
    return rid


def drop_rq_job(redis: redis_lib.Redis, job: JobQueueEntry) -> None:
    """Remove a pending job's RQ job (queued or waiting for its backoff); Redis errors are
    logged (a leftover RQ job finds its attempt gone and does nothing)."""
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


def stop_rq_job(redis: redis_lib.Redis, rid: str) -> None:
    """Send RQ's stop-job command (kills the work-horse running ``rid``); logged if it
    cannot be sent (the job already ended, or Redis is down)."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.serializers import JSONSerializer

    try:
        send_stop_job_command(redis, rid, serializer=JSONSerializer)
    except (InvalidJobOperation, NoSuchJobError, *REDIS_ERRORS) as exc:
        log.info("stop-job %s not sent: %s", rid, exc)
