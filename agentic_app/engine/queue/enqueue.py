"""Enqueue: a new execution and its job row, limits checked under the write lock, and the job
dispatched at once when the user has a free slot (see the package docstring)."""

from __future__ import annotations

import logging
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from agentic_app.db.engine import Database
from agentic_app.db.models import (
    ExecutionStatus,
    JobQueueEntry,
    JobStatus,
    ScheduledJob,
    Workflow,
    WorkflowExecution,
    utcnow,
)
from agentic_app.domain.errors import ConflictError, InvalidInputError, NotFoundError
from agentic_app.engine.queue.dispatch import dispatch_row, drop_reservation
from agentic_app.engine.queue.keys import REDIS_ERRORS, rq_job_id, slots_key
from agentic_app.engine.queue.limits import (
    CAP_COLUMNS,
    check_limits,
    day_start,
    lock_writes,
    reserve_slot,
)
from agentic_app.engine.queue.rq_jobs import enqueue_rq, transaction
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

_JQ = JobQueueEntry.__table__
_EX = WorkflowExecution.__table__
_WF = Workflow.__table__
_SJ = ScheduledJob.__table__
_P = sa.bindparam
_SQL_DEDUPE = sa.select(_JQ.c.id).where(_JQ.c.dedupe_key == _P("dedupe_key"))
# alert-only when the workflow or the firing schedule says so (snapshot on the execution)
_SCHEDULE_ALERT_ONLY = (sa.select(_SJ.c.alert_only)
                        .where(_SJ.c.id == _P("scheduled_job_id")).scalar_subquery())
# the workflow, and (for its owner, ``user_id``) the kill switch and the caps: one statement
_SQL_OWNER = sa.select(_WF.c.user_id, _WF.c.is_active, _WF.c.definition, _WF.c.version,
                       _WF.c.alert_only,
                       _SCHEDULE_ALERT_ONLY.label("schedule_alert_only"), *CAP_COLUMNS).where(
    _WF.c.id == _P("workflow_id"))
_SQL_INSERT_EX = sa.insert(_EX)
_SQL_INSERT_JQ = sa.insert(_JQ)
_SQL_SET_RQ_ID = sa.update(_JQ).where(_JQ.c.id == _P("job_id")).values(
    rq_job_id=_P("b_rq_job_id"))


class DuplicateJobError(InvalidInputError):
    """A job with the same ``dedupe_key`` exists; ``job_id`` is that job's id."""

    def __init__(self, message: str, *, job_id: int | None):
        super().__init__(message, field="dedupe_key")
        self.job_id = job_id


def enqueue_execution(
    *,
    db: Database,
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
    token = reserve_slot(redis, user_id, settings.limits.max_concurrent_per_user)
    try:
        with db.engine.connect() as conn:
            lock_writes(conn)
            job = insert_job(conn, settings, workflow_id=workflow_id, user_id=user_id,
                             trigger_type=trigger_type, trigger_payload=trigger_payload,
                             priority=priority, scheduled_job_id=scheduled_job_id,
                             dedupe_key=dedupe_key, dispatched=token is not None)
            conn.commit()
    except IntegrityError:
        drop_reservation(db, redis, user_id, token, settings)
        if dedupe_key is None:
            raise
        with db.engine.connect() as conn:
            existing = conn.execute(_SQL_DEDUPE, {"dedupe_key": dedupe_key}).scalar()
        raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                job_id=existing) from None
    except BaseException:
        drop_reservation(db, redis, user_id, token, settings)
        raise
    try:  # acknowledged either way: the row is committed; maintenance repairs Redis
        if token is not None:
            pipe = transaction(redis)
            pipe.srem(slots_key(user_id), token)
            pipe.sadd(slots_key(user_id), str(job.id))
            enqueue_rq(redis, job_id=job.id, attempt=job.attempt, priority=priority,
                       settings=settings, pipeline=pipe)
            pipe.execute()
        else:
            # flag first (same script): a slot freed from now on sees the flag, or this
            # gate sees the slot
            dispatch_row(db, redis, job_id=job.id, user_id=user_id, attempt=job.attempt,
                         priority=priority, settings=settings, flag_waiting=True)
    except REDIS_ERRORS:
        log.warning("job %s committed but not dispatched (Redis error)", job.id, exc_info=True)
    return job


def insert_job(conn: Any, settings: Settings, *, workflow_id: int, user_id: int,
               trigger_type: str, trigger_payload: dict | None, priority: int,
               scheduled_job_id: int | None, dedupe_key: str | None,
               dispatched: bool) -> JobQueueEntry:
    """Limit checks and the two inserts in ``conn``'s transaction (SQLAlchemy Core: the write
    lock is held briefly); ``dispatched``: the row is marked dispatched (a slot is held)."""
    if dedupe_key is not None:
        dup = conn.execute(_SQL_DEDUPE, {"dedupe_key": dedupe_key}).first()
        if dup is not None:
            raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                    job_id=dup.id)
    now = utcnow()
    owner = conn.execute(_SQL_OWNER, {"workflow_id": workflow_id, "user_id": user_id,
                                      "scheduled_job_id": scheduled_job_id,
                                      "since": day_start(now)}).first()
    if owner is None or owner.user_id != user_id:
        raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
    if not owner.is_active:  # a deactivated workflow runs neither by hand nor by trigger
        raise ConflictError(f"workflow {workflow_id} is deactivated", field="workflow_id")
    check_limits(owner, settings, user_id)
    execution = dict(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        status=ExecutionStatus.pending.value, trigger_type=trigger_type,
        trigger_payload=dict(trigger_payload or {}), attempt=1, created_at=now,
        definition=owner.definition, workflow_version=owner.version,
        alert_only=bool(owner.alert_only or owner.schedule_alert_only))
    job: dict[str, Any] = dict(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        dedupe_key=dedupe_key, status=JobStatus.pending.value, priority=priority,
        retry_count=0, max_retries=settings.queue_config.max_retries, scheduled_at=now,
        started_at=None, completed_at=None, error_message=None, created_at=now, attempt=1,
        next_attempt_at=None, heartbeat_at=None, worker_name=None)
    if conn.dialect.name == "postgresql":
        return _insert_pg(conn, execution, job, dispatched=dispatched)
    execution_id = conn.execute(_SQL_INSERT_EX, execution).inserted_primary_key[0]
    values = {**job, "execution_id": execution_id, "rq_job_id": None}
    job_id = conn.execute(_SQL_INSERT_JQ, values).inserted_primary_key[0]
    if dispatched:
        values["rq_job_id"] = rq_job_id(job_id, 1)
        conn.execute(_SQL_SET_RQ_ID, {"job_id": job_id, "b_rq_job_id": values["rq_job_id"]})
    return JobQueueEntry(id=job_id, **values)


# PostgreSQL: the execution row, the job row and its RQ id (= rq_job_id(id, 1), the id drawn
# from the job sequence first) in one statement: one round trip instead of three
_PG_INSERT = sa.text("""
WITH new_ex AS (
  INSERT INTO workflow_executions (workflow_id, user_id, scheduled_job_id, status,
      trigger_type, trigger_payload, attempt, created_at, definition, workflow_version,
      alert_only)
  VALUES (:workflow_id, :user_id, :scheduled_job_id, :ex_status, :trigger_type,
      :trigger_payload, 1, :now, :definition, :workflow_version, :alert_only)
  RETURNING id
), new_job AS (SELECT nextval(pg_get_serial_sequence('job_queue', 'id')) AS id)
INSERT INTO job_queue (id, workflow_id, user_id, execution_id, scheduled_job_id, dedupe_key,
    rq_job_id, status, priority, retry_count, max_retries, scheduled_at, created_at, attempt)
SELECT new_job.id, CAST(:workflow_id AS INTEGER), CAST(:user_id AS INTEGER), new_ex.id,
    CAST(:scheduled_job_id AS INTEGER), CAST(:dedupe_key AS VARCHAR),
    CASE WHEN :dispatched THEN 'agentic-' || new_job.id || '-1' END,
    CAST(:job_status AS VARCHAR), CAST(:priority AS INTEGER), 0,
    CAST(:max_retries AS INTEGER), :now, :now, 1
FROM new_ex, new_job
RETURNING id, execution_id, rq_job_id""").bindparams(
    sa.bindparam("trigger_payload", type_=_EX.c.trigger_payload.type),
    sa.bindparam("definition", type_=_EX.c.definition.type),
    sa.bindparam("now", type_=_EX.c.created_at.type),
    sa.bindparam("dispatched", type_=sa.Boolean()),
    sa.bindparam("alert_only", type_=sa.Boolean()))


def _insert_pg(conn: Any, execution: dict[str, Any], job: dict[str, Any], *,
               dispatched: bool) -> JobQueueEntry:
    """:func:`insert_job`'s two inserts (and the RQ id) on PostgreSQL, in one statement;
    ``execution`` and ``job`` are the rows' values as insert_job builds them."""
    row = conn.execute(_PG_INSERT, dict(
        workflow_id=job["workflow_id"], user_id=job["user_id"],
        scheduled_job_id=job["scheduled_job_id"], ex_status=execution["status"],
        trigger_type=execution["trigger_type"], trigger_payload=execution["trigger_payload"],
        now=job["created_at"], definition=execution["definition"],
        workflow_version=execution["workflow_version"], dedupe_key=job["dedupe_key"],
        dispatched=dispatched, alert_only=execution["alert_only"], job_status=job["status"],
        priority=job["priority"], max_retries=job["max_retries"])).one()
    return JobQueueEntry(id=row.id, execution_id=row.execution_id, rq_job_id=row.rq_job_id,
                         **job)
