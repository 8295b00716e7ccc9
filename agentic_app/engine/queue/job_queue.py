"""The job queue: job_queue rows in the database, RQ jobs in Redis, and every state change.

The database is the truth; Redis carries only what can be rebuilt from it
(:mod:`agentic_app.engine.queue.maintenance` rebuilds it).

* **Enqueue** is one database transaction holding the database's write lock (SQLite
  ``BEGIN IMMEDIATE``, PostgreSQL a transaction-level advisory lock), which makes the daily cap
  and the queue-size cap exact across processes: the checks, the ``workflow_executions`` and
  ``job_queue`` rows, and - when the user has a free slot - the row marked dispatched
  (``rq_job_id`` set), committed once. The slot is reserved inside the transaction under a
  token ``r:<ms>:<random>`` (so a crash before the commit leaks nothing: the reconciler drops
  tokens older than ``RESERVATION_TTL_S``); after the commit one Redis transaction swaps the
  token for the job id and pushes the RQ job (a single round trip).
* **Dispatch** = take a per-user slot (an atomic Lua check on the Redis set
  ``agentic:q:slots:<user>``: at most ``max_concurrent_per_user`` members), mark the row
  dispatched (``rq_job_id`` set, conditional UPDATE) and push the RQ job
  ``agentic-<job id>-<attempt>`` onto the queue of its priority. Without a free slot the row
  stays pending with ``rq_job_id`` NULL ("waiting for a slot") and the flag
  ``agentic:q:waiting:<user>`` is set; when an attempt ends its slot is handed to the user's
  next waiting job (priority, then FIFO) in the same transaction that records the end (the
  holder count never changes), else freed - event driven.
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
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from agentic_app.db.engine import begin_immediate, get_engine, session_scope, write_transaction
from agentic_app.db.models import (
    ExecutionStatus,
    JobQueueEntry,
    JobStatus,
    ScheduledJob,
    Workflow,
    WorkflowExecution,
    utcnow,
)
from agentic_app.domain.errors import (
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from agentic_app.engine.queue.names import queue_for_priority
from agentic_app.settings import Settings, get_settings

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
SLOTS_PREFIX = "agentic:q:slots:"
"""Redis set per user: ids of jobs holding a concurrency slot (dispatched, running, backoff)."""
DUE_KEY = "agentic:q:due"
"""Redis sorted set of retries waiting for their backoff: member ``job:attempt:priority``."""
CANCEL_PREFIX = "agentic:q:cancel:"
"""Redis key ``agentic:q:cancel:<job id>`` = attempt to cancel (polled by the running task)."""
ENQUEUE_LOCK_KEY = 0x61674A51
"""PostgreSQL advisory lock (transaction level) serialising the limit checks + inserts of
enqueue and manual retry (exact caps); SQLite uses ``BEGIN IMMEDIATE`` instead."""
RESERVATION_PREFIX = "r:"
"""Slot set members ``r:<epoch ms>:<random>``: a slot reserved by an enqueue not yet committed."""
RESERVATION_TTL_S = 60
"""A reservation older than this was left by a crashed enqueue; the reconciler drops it."""
WAITING_PREFIX = "agentic:q:waiting:"
"""Redis key ``agentic:q:waiting:<user>``: the user recently had jobs waiting for a slot."""
WAITING_FLAG_TTL_S = 300
"""Lifetime of a waiting flag (refreshed by every job that has to wait)."""
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
_FLAG_AND_GATE_LUA = "redis.call('SET', KEYS[2], 1, 'EX', ARGV[3])\n" + _GATE_LUA
"""The gate, after raising the user's waiting flag (KEYS[2]) in the same call: a job that
finds no slot is then seen by the next slot freed (see enqueue_execution)."""
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
    state: Any = None
    """The job row as claimed (the columns of a job-state read): the finish of this attempt
    needs no read of its own (see ``finish_attempt(known_state=)``)."""


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


_JQ = JobQueueEntry.__table__
_EX = WorkflowExecution.__table__
_WF = Workflow.__table__
_P = sa.bindparam
_PENDING = JobStatus.pending.value
# Statements built once (building and cache-keying a statement per call cost more than
# running it); parameters are bound at execution.
_SQL_DEDUPE = sa.select(_JQ.c.id).where(_JQ.c.dedupe_key == _P("dedupe_key"))
_SQL_OWNER = sa.select(_WF.c.user_id, _WF.c.is_active).where(_WF.c.id == _P("workflow_id"))
_SQL_QUEUED = sa.select(sa.func.count()).select_from(_JQ).where(_JQ.c.status == _PENDING)
_SQL_TODAY = sa.select(sa.func.count()).select_from(_EX).where(
    _EX.c.user_id == _P("user_id"), _EX.c.created_at >= _P("since", type_=_EX.c.created_at.type))
_SQL_INSERT_EX = sa.insert(_EX)
_SQL_INSERT_JQ = sa.insert(_JQ)
_SQL_SET_RQ_ID = sa.update(_JQ).where(_JQ.c.id == _P("job_id")).values(
    rq_job_id=_P("b_rq_job_id"))
_SQL_MARK_DISPATCHED = (
    sa.update(_JQ)
    .where(_JQ.c.id == _P("job_id"), _JQ.c.status == _PENDING,
           _JQ.c.attempt == _P("b_attempt"), _JQ.c.rq_job_id.is_(None))
    .values(rq_job_id=_P("b_rq_job_id")))
_WAITER = _JQ.alias("waiter")
_SQL_TAKE_NEXT_WAITING = (  # the user's next waiting job marked dispatched, one statement
    sa.update(_JQ)
    .where(_JQ.c.id == sa.select(_WAITER.c.id)
           .where(_WAITER.c.user_id == _P("b_user_id"), _WAITER.c.status == _PENDING,
                  _WAITER.c.rq_job_id.is_(None))
           .order_by(_WAITER.c.priority.desc(), _WAITER.c.id).limit(1).scalar_subquery(),
           _JQ.c.status == _PENDING, _JQ.c.rq_job_id.is_(None))  # re-checked under a row lock
    .values(rq_job_id=sa.literal("agentic-") + sa.cast(_JQ.c.id, sa.String) + "-"
            + sa.cast(_JQ.c.attempt, sa.String))  # = rq_job_id(id, attempt)
    .returning(_JQ.c.id, _JQ.c.attempt, _JQ.c.priority, _JQ.c.rq_job_id))
_SQL_WAITING = (sa.select(_JQ.c.id, _JQ.c.attempt, _JQ.c.priority)
                .where(_JQ.c.user_id == _P("user_id"), _JQ.c.status == _PENDING,
                       _JQ.c.rq_job_id.is_(None))
                .order_by(_JQ.c.priority.desc(), _JQ.c.id).limit(_P("limit")))
_SQL_JOB_STATE = sa.select(
    _JQ.c.status, _JQ.c.attempt, _JQ.c.retry_count, _JQ.c.max_retries, _JQ.c.execution_id,
    _JQ.c.scheduled_job_id, _JQ.c.user_id, _JQ.c.priority, _JQ.c.rq_job_id,
).where(_JQ.c.id == _P("job_id"))
_SQL_CLAIM = (
    sa.update(_JQ)
    .where(_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
           _JQ.c.status == _PENDING)
    .values(status=JobStatus.running.value, started_at=_P("now", type_=_JQ.c.started_at.type),
            heartbeat_at=_P("now", type_=_JQ.c.started_at.type),
            next_attempt_at=None, worker_name=_P("b_worker_name"))
    .returning(_JQ.c.status, _JQ.c.attempt, _JQ.c.retry_count, _JQ.c.max_retries,
               _JQ.c.execution_id, _JQ.c.scheduled_job_id, _JQ.c.user_id, _JQ.c.priority,
               _JQ.c.rq_job_id, _JQ.c.workflow_id))
def _max_seq() -> Any:
    from agentic_app.db.models import ExecutionEvent

    events = ExecutionEvent.__table__
    return (sa.select(sa.func.max(events.c.seq))
            .where(events.c.execution_id == _P("execution_id")).scalar_subquery())


def _definition() -> Any:
    executions = _EX.alias("ex")
    return (sa.select(_WF.c.definition)
            .where(_WF.c.id == sa.select(executions.c.workflow_id)
                   .where(executions.c.id == _P("execution_id")).scalar_subquery())
            .scalar_subquery())


# the execution goes running and returns what the attempt needs, in one statement
_SQL_EX_RUNNING = (
    sa.update(_EX).where(_EX.c.id == _P("execution_id")).values(
        status=ExecutionStatus.running.value, attempt=_P("b_attempt"),
        started_at=sa.func.coalesce(_EX.c.started_at, _P("now", type_=_EX.c.started_at.type)),
        finished_at=None)
    # the subqueries use only the bound id: RETURNING renders columns unqualified, so a
    # correlated "id" would name the subquery's own table
    .returning(_EX.c.trigger_payload, _definition().label("definition"),
               _max_seq().label("max_seq")))
_SQL_EX_END = sa.update(_EX).where(_EX.c.id == _P("execution_id")).values(
    status=_P("b_status"), error=_P("b_error"),
    finished_at=_P("b_finished_at", type_=_EX.c.finished_at.type))
_FINISH_WHERE = (_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
                 _JQ.c.status.in_(_P("from_statuses", expanding=True)))
_SQL_FINISH_RETRY = sa.update(_JQ).where(*_FINISH_WHERE).values(
    status=_PENDING, retry_count=_P("b_retry_count"), attempt=_P("b_new_attempt"),
    error_message=_P("b_error"),
    next_attempt_at=_P("b_next_attempt_at", type_=_JQ.c.next_attempt_at.type),
    rq_job_id=_P("b_rq_job_id"), heartbeat_at=None, worker_name=None)
_SQL_FINISH_END = sa.update(_JQ).where(*_FINISH_WHERE).values(
    status=_P("b_status"), completed_at=_P("b_completed_at", type_=_JQ.c.completed_at.type),
    error_message=_P("b_error"), heartbeat_at=None, next_attempt_at=None)
_SQL_HEARTBEAT = (sa.update(_JQ)
                  .where(_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
                         _JQ.c.status == JobStatus.running.value)
                  .values(heartbeat_at=_P("now", type_=_JQ.c.heartbeat_at.type)))


# -- enqueue ------------------------------------------------------------------------------


def waiting_key(user_id: int) -> str:
    """The Redis flag saying the user recently had jobs waiting for a slot."""
    return f"{WAITING_PREFIX}{user_id}"


def is_reservation(member: str) -> bool:
    """True for a slot set member that is an enqueue's reservation token, not a job id."""
    return member.startswith(RESERVATION_PREFIX)


def reservation_age_s(member: str, now: float | None = None) -> float:
    """Age in seconds of a reservation token (infinite when malformed)."""
    try:
        stamp_ms = int(member.split(":")[1])
    except (IndexError, ValueError):
        return float("inf")
    return (now if now is not None else time.time()) - stamp_ms / 1000


_outer_conn: ContextVar[sa.Connection | None] = ContextVar("job_queue_outer_conn", default=None)
"""Set by :func:`inside` (statement-cache priming): ``_begin`` then uses this connection."""


@contextmanager
def _begin(database_url: str) -> Iterator[sa.Connection]:
    """A Core connection in a write transaction, committed on success (cheaper than an ORM
    session; on SQLite it holds the write lock from the start, see ``write_transaction``)."""
    outer = _outer_conn.get()
    if outer is not None:
        yield outer
        return
    with write_transaction(database_url) as conn:
        yield conn


@contextmanager
def inside(conn: sa.Connection) -> Iterator[None]:
    """Run this module's claim/finish/heartbeat statements in ``conn``'s transaction (the
    caller commits or rolls back): used to compile them once in a worker before it forks."""
    token = _outer_conn.set(conn)
    try:
        yield
    finally:
        _outer_conn.reset(token)


def _lock_writes(s: Any) -> None:
    """Make this fresh session's (or Core connection's) transaction hold the database's
    write lock from now on, so limit checks and the inserts they allow are serialised
    across processes."""
    conn = s.connection() if hasattr(s, "exec") else s
    if conn.dialect.name == "sqlite":
        begin_immediate(conn)
    elif conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ENQUEUE_LOCK_KEY})


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
    # reserved before the write lock is taken, so the lock is held for SQL only
    token = _reserve_slot(redis, user_id, settings.limits.max_concurrent_per_user)
    try:
        with get_engine(database_url).connect() as conn:
            _lock_writes(conn)
            job = _insert_job(conn, settings, workflow_id=workflow_id, user_id=user_id,
                              trigger_type=trigger_type, trigger_payload=trigger_payload,
                              priority=priority, scheduled_job_id=scheduled_job_id,
                              dedupe_key=dedupe_key, dispatched=token is not None)
            conn.commit()
    except IntegrityError:
        _drop_reservation(redis, user_id, token, database_url, settings)
        if dedupe_key is None:
            raise
        existing = _find_dedupe(database_url, dedupe_key)
        raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                job_id=existing) from None
    except BaseException:
        _drop_reservation(redis, user_id, token, database_url, settings)
        raise
    try:  # acknowledged either way: the row is committed; maintenance repairs Redis
        if token is not None:
            pipe = _transaction(redis)
            pipe.srem(slots_key(user_id), token)
            pipe.sadd(slots_key(user_id), str(job.id))
            enqueue_rq(redis, job_id=job.id, attempt=job.attempt, priority=priority,
                       settings=settings, pipeline=pipe)
            pipe.execute()
        else:
            # flag first (same script): a slot freed from now on sees the flag, or this
            # gate sees the slot
            _dispatch_row(database_url, redis, job_id=job.id, user_id=user_id,
                          attempt=job.attempt, priority=priority, settings=settings,
                          flag_waiting=True)
    except REDIS_ERRORS:
        log.warning("job %s committed but not dispatched (Redis error)", job.id, exc_info=True)
    return job


def _reserve_slot(redis: redis_lib.Redis, user_id: int, cap: int) -> str | None:
    """Reserve one of the user's slots under a fresh token; None when full or Redis is down."""
    token = f"{RESERVATION_PREFIX}{int(time.time() * 1000)}:{secrets.token_hex(6)}"
    try:
        return token if redis.eval(_GATE_LUA, 1, slots_key(user_id), token, cap) else None
    except REDIS_ERRORS:
        log.warning("no slot reserved for user %s (Redis error)", user_id, exc_info=True)
        return None


def _drop_reservation(redis: redis_lib.Redis, user_id: int, token: str | None,
                      database_url: str, settings: Settings) -> None:
    """Give back the slot of an enqueue that failed; a job that found the slots full
    meanwhile is dispatched now."""
    if token is None:
        return
    try:
        pipe = _transaction(redis)
        pipe.srem(slots_key(user_id), token)
        pipe.exists(waiting_key(user_id))
        if pipe.execute()[-1]:
            dispatch_waiting(database_url=database_url, redis=redis, user_id=user_id,
                             settings=settings)
    except REDIS_ERRORS:
        log.warning("reservation %s not dropped (it expires)", token)
    except Exception:
        log.exception("dispatch after a dropped reservation failed (maintenance will)")


def _transaction(redis: redis_lib.Redis) -> Any:
    """A MULTI/EXEC pipeline already in transaction mode (commands run atomically)."""
    pipe = redis.pipeline(transaction=True)
    pipe.multi()
    return pipe


def _find_dedupe(database_url: str, dedupe_key: str) -> int | None:
    with session_scope(database_url) as s:
        row = s.exec(select(JobQueueEntry).where(JobQueueEntry.dedupe_key == dedupe_key)).first()
        return row.id if row else None


def _insert_job(conn: Any, settings: Settings, *, workflow_id: int, user_id: int,
                trigger_type: str, trigger_payload: dict | None, priority: int,
                scheduled_job_id: int | None, dedupe_key: str | None,
                dispatched: bool) -> JobQueueEntry:
    """Limit checks and the two inserts (SQLAlchemy Core: the write lock is held briefly)."""
    if dedupe_key is not None:
        dup = conn.execute(_SQL_DEDUPE, {"dedupe_key": dedupe_key}).first()
        if dup is not None:
            raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                    job_id=dup.id)
    owner = conn.execute(_SQL_OWNER, {"workflow_id": workflow_id}).first()
    if owner is None or owner.user_id != user_id:
        raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
    if not owner.is_active:  # a deactivated workflow runs neither by hand nor by trigger
        raise ConflictError(f"workflow {workflow_id} is deactivated", field="workflow_id")
    queued = conn.execute(_SQL_QUEUED).scalar()
    cap = settings.queue_config.max_queue_size
    if queued >= cap:
        raise LimitExceededError(f"the queue is full ({queued} of {cap} jobs pending)",
                                 limit="max_queue_size")
    now = utcnow()
    today = conn.execute(_SQL_TODAY, {"user_id": user_id,
                                      "since": _utc_midnight(now)}).scalar()
    daily = settings.limits.max_executions_per_day
    if today >= daily:
        raise LimitExceededError(
            f"user {user_id} reached {daily} executions today (UTC); try again after midnight",
            limit="max_executions_per_day")
    execution_id = conn.execute(_SQL_INSERT_EX, dict(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        status=ExecutionStatus.pending.value, trigger_type=trigger_type,
        trigger_payload=dict(trigger_payload or {}), attempt=1,
        created_at=now)).inserted_primary_key[0]
    values: dict[str, Any] = dict(
        workflow_id=workflow_id, user_id=user_id, execution_id=execution_id,
        scheduled_job_id=scheduled_job_id, dedupe_key=dedupe_key, rq_job_id=None,
        status=JobStatus.pending.value, priority=priority, retry_count=0,
        max_retries=settings.queue_config.max_retries, scheduled_at=now, started_at=None,
        completed_at=None, error_message=None, created_at=now, attempt=1,
        next_attempt_at=None, heartbeat_at=None, worker_name=None)
    job_id = conn.execute(_SQL_INSERT_JQ, values).inserted_primary_key[0]
    if dispatched:
        values["rq_job_id"] = rq_job_id(job_id, 1)
        conn.execute(_SQL_SET_RQ_ID, {"job_id": job_id, "b_rq_job_id": values["rq_job_id"]})
    return JobQueueEntry(id=job_id, **values)


# -- dispatch -----------------------------------------------------------------------------

_queues: dict[tuple[int, str], Any] = {}


def _queue(redis: redis_lib.Redis, priority: int) -> Any:
    """The RQ queue of ``priority`` on this connection (cached per connection)."""
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

    With ``pipeline`` (a MULTI pipeline, see :func:`_transaction`) the commands are only
    queued on it: the caller executes it, together with its own commands, in one round trip.
    """
    pipe = pipeline if pipeline is not None else _transaction(redis)
    rid = rq_job_id(job_id, attempt)
    _queue(redis, priority).enqueue_call(
        TASK_FUNC, args=(job_id, attempt), job_id=rid,
        timeout=settings.queue_config.job_timeout_seconds + RQ_TIMEOUT_MARGIN_S,
        result_ttl=RQ_RESULT_TTL_S, failure_ttl=RQ_FAILURE_TTL_S,
        description=f"execution job {job_id} attempt {attempt}", pipeline=pipe)
    if pipeline is None:
        pipe.execute()
    return rid


def dispatch(*, database_url: str, redis: redis_lib.Redis, job_id: int,
             settings: Settings | None = None) -> str:
    """Try to start a waiting job: ``"dispatched"``, ``"full"`` (no slot) or ``"skipped"``."""
    settings = settings or get_settings()
    with _begin(database_url) as conn:
        job = conn.execute(_SQL_JOB_STATE, {"job_id": job_id}).first()
    if job is None or job.status != JobStatus.pending.value or job.rq_job_id is not None:
        return "skipped"
    return _dispatch_row(database_url, redis, job_id=job_id, user_id=job.user_id,
                         attempt=job.attempt, priority=job.priority, settings=settings)


def _dispatch_row(database_url: str, redis: redis_lib.Redis, *, job_id: int, user_id: int,
                  attempt: int, priority: int, settings: Settings,
                  flag_waiting: bool = False) -> str:
    cap = settings.limits.max_concurrent_per_user
    if flag_waiting:
        gate = redis.eval(_FLAG_AND_GATE_LUA, 2, slots_key(user_id), waiting_key(user_id),
                          str(job_id), cap, WAITING_FLAG_TTL_S)
    else:
        gate = redis.eval(_GATE_LUA, 1, slots_key(user_id), str(job_id), cap)
    if not gate:
        return "full"
    with _begin(database_url) as conn:
        claimed = _mark_dispatched(conn, job_id, attempt)
    if not claimed:
        if get_job(database_url, job_id).status in TERMINAL:
            redis.srem(slots_key(user_id), str(job_id))
        return "skipped"
    enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority, settings=settings)
    return "dispatched"


def _mark_dispatched(conn: Any, job_id: int, attempt: int) -> bool:
    """Mark a waiting job dispatched (conditional: still waiting, same attempt)."""
    return bool(conn.execute(_SQL_MARK_DISPATCHED, {
        "job_id": job_id, "b_attempt": attempt,
        "b_rq_job_id": rq_job_id(job_id, attempt)}).rowcount)


def _waiting(conn: Any, user_id: int, limit: int) -> list[Any]:
    """The user's waiting jobs (id, attempt, priority): priority, then FIFO."""
    return conn.execute(_SQL_WAITING, {"user_id": user_id, "limit": limit}).all()


def dispatch_waiting(*, database_url: str, redis: redis_lib.Redis, user_id: int,
                     settings: Settings | None = None) -> int:
    """Dispatch the user's waiting jobs (priority, then FIFO) while slots are free."""
    settings = settings or get_settings()
    started = 0
    while True:
        with _begin(database_url) as conn:
            rows = _waiting(conn, user_id, 20)
        if not rows:
            return started
        progressed = False
        for row in rows:
            outcome = _dispatch_row(database_url, redis, job_id=row.id, user_id=user_id,
                                    attempt=row.attempt, priority=row.priority,
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
    if items:
        pipe = _transaction(redis)
        for raw in items:
            job_id, attempt, priority = (int(p) for p in raw.decode().split(":"))
            enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority,
                       settings=settings, pipeline=pipe)
        pipe.execute()
    return len(items)


# -- attempts -----------------------------------------------------------------------------


def claim_attempt(*, database_url: str, job_id: int, attempt: int,
                  worker_name: str | None = None) -> Attempt | None:
    """pending -> running for this attempt; None when the RQ job is stale (state moved on)."""
    now = utcnow()
    with _begin(database_url) as conn:
        job = conn.execute(_SQL_CLAIM, {"job_id": job_id, "b_attempt": attempt, "now": now,
                                        "b_worker_name": worker_name}).first()
        if job is None:
            return None
        row = conn.execute(_SQL_EX_RUNNING, {"execution_id": job.execution_id,
                                             "b_attempt": attempt, "now": now}).first()
    max_seq = row.max_seq if row else None
    return Attempt(job_id=job_id, attempt=attempt, execution_id=job.execution_id,
                   user_id=job.user_id, workflow_id=job.workflow_id,
                   definition=dict((row.definition if row else None) or {}),
                   trigger_payload=dict((row.trigger_payload if row else None) or {}),
                   first_seq=(max_seq or 0) + 1, state=job)


def heartbeat(*, database_url: str, job_id: int, attempt: int) -> bool:
    """Record that this running attempt is alive; False once it is no longer current."""
    with _begin(database_url) as conn:
        return bool(conn.execute(_SQL_HEARTBEAT, {"job_id": job_id, "b_attempt": attempt,
                                                  "now": utcnow()}).rowcount)


def retry_delay(settings: Settings, retry_number: int) -> int:
    """Backoff before automatic retry number ``retry_number`` (1-based)."""
    delays = settings.queue_config.retry_delay_seconds or [0]
    return delays[min(retry_number, len(delays)) - 1]


def finish_attempt(*, database_url: str, redis: redis_lib.Redis | None, job_id: int,
                   attempt: int, status: str, error: str | None = None,
                   retryable: bool = False, from_statuses: tuple[str, ...] = ("running",),
                   settings: Settings | None = None,
                   before_end: Callable[[sa.Connection], None] | None = None,
                   after_end: Callable[[Any], None] | None = None,
                   known_state: Any = None) -> str:
    """Record the end of an attempt; returns ``"completed"``, ``"failed"``, ``"cancelled"``,
    ``"retrying"`` or ``"stale"`` (the attempt was no longer current: nothing changed).

    ``before_end(conn)`` runs in the same transaction, before the status is written, when
    the attempt is still current (e.g. the attempt's last events are stored with it: one
    commit, and never a final status before its events); it is committed even if the
    attempt turns out stale at the conditional update. ``after_end(pipe)`` adds commands
    (e.g. publishing those events) to the Redis transaction that follows a recorded end
    (one round trip); it is not called when nothing was recorded (``"stale"``).
    ``known_state``: the job row as this attempt's claim returned it (``Attempt.state``),
    saving the read; the conditional update still detects a job that moved on meanwhile.

    A retryable failure with retries left becomes a new pending attempt after its backoff
    (keeping its slot); otherwise the job ends and its slot goes, in the same transaction, to
    the user's next waiting job (dispatched at once), else is freed. A scheduled job's
    consecutive failures are counted here (final failures only) and it is paused, with a
    notification to its owner, at ``auto_pause_after_failures``.
    """
    settings = settings or get_settings()
    now = utcnow()
    with _begin(database_url) as conn:
        job = known_state if known_state is not None else conn.execute(
            _SQL_JOB_STATE, {"job_id": job_id}).first()
        if job is None or job.attempt != attempt or job.status not in from_statuses:
            return "stale"
        if before_end is not None:
            before_end(conn)
        retry = (status == JobStatus.failed.value and retryable
                 and job.retry_count < job.max_retries)
        where = {"job_id": job_id, "b_attempt": attempt,
                 "from_statuses": list(from_statuses), "b_error": error}
        if retry:
            delay = retry_delay(settings, job.retry_count + 1)
            done = conn.execute(_SQL_FINISH_RETRY, {
                **where, "b_retry_count": job.retry_count + 1, "b_new_attempt": attempt + 1,
                "b_next_attempt_at": now + timedelta(seconds=delay),
                "b_rq_job_id": rq_job_id(job_id, attempt + 1)}).rowcount
            exec_status = ExecutionStatus.pending.value
        else:
            delay = 0
            done = conn.execute(_SQL_FINISH_END, {
                **where, "b_status": status, "b_completed_at": now}).rowcount
            exec_status = status
        if not done:
            return "stale"
        if job.execution_id is not None:
            conn.execute(_SQL_EX_END, {"execution_id": job.execution_id,
                                       "b_status": exec_status, "b_error": error,
                                       "b_finished_at": None if retry else now})
        if not retry and job.scheduled_job_id is not None:
            from sqlmodel import Session

            with Session(bind=conn) as s:
                _count_scheduled_outcome(s, job.scheduled_job_id, status, error, settings)
                s.flush()
        held = job.status == JobStatus.running.value or job.rq_job_id is not None
        heir = None
        if not retry and held and redis is not None:
            heir = conn.execute(_SQL_TAKE_NEXT_WAITING, {"b_user_id": job.user_id}).first()
    if redis is None:
        return "retrying" if retry else status
    try:
        _after_finish(redis, job_id=job_id, attempt=attempt, user_id=job.user_id,
                      priority=job.priority, retry=retry, delay=delay, heir=heir,
                      database_url=database_url, settings=settings, extra=after_end)
    except REDIS_ERRORS:
        log.warning("job %s: Redis error after finishing attempt %s (maintenance repairs)",
                    job_id, attempt, exc_info=True)
    return "retrying" if retry else status


def _after_finish(redis: redis_lib.Redis, *, job_id: int, attempt: int, user_id: int,
                  priority: int, retry: bool, delay: int, heir: Any, database_url: str,
                  settings: Settings, extra: Callable[[Any], None] | None = None) -> None:
    """Redis side of a committed finish, one round trip: ``extra(pipe)``'s commands; cancel
    flag dropped; a retry waits in :data:`DUE_KEY`; otherwise the slot goes to ``heir``
    (swap + RQ push) or is freed - and if the user has waiting jobs committed after the
    finish, they are dispatched."""
    key = slots_key(user_id)
    pipe = _transaction(redis)
    if extra is not None:
        extra(pipe)
    pipe.delete(cancel_key(job_id))
    if retry:
        pipe.zadd(DUE_KEY, {due_member(job_id, attempt + 1, priority): time.time() + delay})
    else:
        pipe.srem(key, str(job_id))
        if heir is not None:
            pipe.sadd(key, str(heir.id))
            enqueue_rq(redis, job_id=heir.id, attempt=heir.attempt, priority=heir.priority,
                       settings=settings, pipeline=pipe)
        else:
            pipe.exists(waiting_key(user_id))
    results = pipe.execute()
    if not retry and heir is None and results[-1]:
        dispatch_waiting(database_url=database_url, redis=redis, user_id=user_id,
                         settings=settings)


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
    marked cancelled here. An attempt that fails while being stopped is not retried (the
    task sees the flag); should a retry be scheduled anyway, it is cancelled as well.
    Cancelling a finished job raises InvalidInputError.
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
        if current.attempt != job.attempt and current.status not in TERMINAL:
            # the attempt failed on its own while being stopped and a retry was scheduled:
            # the user asked for no further attempt, so that one is cancelled too
            return cancel_job(database_url=database_url, redis=redis, job_id=job_id,
                              settings=settings, grace_s=grace_s)
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
    with session_scope(database_url) as s:
        _lock_writes(s)
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
    redis.set(waiting_key(job.user_id), 1, ex=WAITING_FLAG_TTL_S)
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
