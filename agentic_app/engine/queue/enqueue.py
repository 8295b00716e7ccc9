"""Enqueue: a new execution and its job row, limits checked under the write lock, and the job
dispatched at once when the user has a free slot (see the package docstring)."""

from __future__ import annotations

import logging
from collections import namedtuple
from datetime import datetime
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import instrumentation

from agentic_app.db.engine import Database
from agentic_app.db.locks import locked_statement_pg
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
    ENQUEUE_LOCK_KEY,
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
    args = dict(workflow_id=workflow_id, user_id=user_id, trigger_type=trigger_type,
                trigger_payload=trigger_payload, priority=priority,
                scheduled_job_id=scheduled_job_id, dedupe_key=dedupe_key,
                dispatched=token is not None)
    try:
        if db.engine.dialect.name == "postgresql":
            job = _enqueue_pg(db.engine, settings, **args)
        else:
            with db.engine.connect() as conn:
                lock_writes(conn)
                job = insert_job(conn, settings, **args)
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
    now = utcnow()
    execution, job = _values(settings, now, workflow_id=workflow_id, user_id=user_id,
                             trigger_type=trigger_type, trigger_payload=trigger_payload,
                             priority=priority, scheduled_job_id=scheduled_job_id,
                             dedupe_key=dedupe_key)
    if conn.dialect.name == "postgresql":
        sql, params = pg_insert(conn.dialect, settings, execution, job, dispatched=dispatched)
        return pg_job(conn.exec_driver_sql(sql, params).one(), job, settings)
    if dedupe_key is not None:
        dup = conn.execute(_SQL_DEDUPE, {"dedupe_key": dedupe_key}).first()
        if dup is not None:
            raise DuplicateJobError(f"a job with dedupe_key {dedupe_key!r} exists",
                                    job_id=dup.id)
    owner = conn.execute(_SQL_OWNER, {"workflow_id": workflow_id, "user_id": user_id,
                                      "scheduled_job_id": scheduled_job_id,
                                      "since": day_start(now)}).first()
    check_owner(owner, settings, workflow_id, user_id)
    execution.update(definition=owner.definition, workflow_version=owner.version,
                     alert_only=bool(owner.alert_only or owner.schedule_alert_only))
    execution_id = conn.execute(_SQL_INSERT_EX, execution).inserted_primary_key[0]
    values = {**job, "execution_id": execution_id, "rq_job_id": None}
    job_id = conn.execute(_SQL_INSERT_JQ, values).inserted_primary_key[0]
    if dispatched:
        values["rq_job_id"] = rq_job_id(job_id, 1)
        conn.execute(_SQL_SET_RQ_ID, {"job_id": job_id, "b_rq_job_id": values["rq_job_id"]})
    return job_row(id=job_id, **values)


def _enqueue_pg(engine: sa.Engine, settings: Settings, **args: Any) -> JobQueueEntry:
    """:func:`insert_job` on PostgreSQL in its own transaction holding the enqueue lock, in
    one round trip (see :func:`~agentic_app.db.locks.locked_statement_pg`)."""
    execution, job = _values(settings, utcnow(), **{k: v for k, v in args.items()
                                                    if k != "dispatched"})
    sql, params = pg_insert(engine.dialect, settings, execution, job,
                            dispatched=args["dispatched"])
    return pg_job(locked_statement_pg(engine, ENQUEUE_LOCK_KEY, sql, params), job, settings)


def _values(settings: Settings, now: datetime, *, workflow_id: int, user_id: int,
            trigger_type: str, trigger_payload: dict | None, priority: int,
            scheduled_job_id: int | None,
            dedupe_key: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The new execution's and job's column values (the execution's workflow snapshot -
    definition, version, alert_only - is added from the workflow row)."""
    execution = dict(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        status=ExecutionStatus.pending.value, trigger_type=trigger_type,
        trigger_payload=dict(trigger_payload or {}), attempt=1, created_at=now)
    job: dict[str, Any] = dict(
        workflow_id=workflow_id, user_id=user_id, scheduled_job_id=scheduled_job_id,
        dedupe_key=dedupe_key, status=JobStatus.pending.value, priority=priority,
        retry_count=0, max_retries=settings.queue_config.max_retries, scheduled_at=now,
        started_at=None, completed_at=None, error_message=None, created_at=now, attempt=1,
        next_attempt_at=None, heartbeat_at=None, worker_name=None)
    return execution, job


def check_owner(owner: Any, settings: Settings, workflow_id: int, user_id: int) -> None:
    """Raise unless ``owner`` (a row of the workflow's owner, active flag and the caps, or
    None) lets ``user_id`` run the workflow now: NotFoundError, ConflictError (deactivated
    workflow, kill switch) or LimitExceededError (see check_limits)."""
    if owner is None or owner.user_id != user_id:
        raise NotFoundError(f"workflow {workflow_id} not found", field="workflow_id")
    if not owner.is_active:  # a deactivated workflow runs neither by hand nor by trigger
        raise ConflictError(f"workflow {workflow_id} is deactivated", field="workflow_id")
    check_limits(owner, settings, user_id)


_JOB_STATE = instrumentation.manager_of_class(JobQueueEntry)
_mapped: list[bool] = []


def job_row(**values: Any) -> JobQueueEntry:
    """A transient ``JobQueueEntry`` of all its column ``values`` (the row just inserted),
    built without SQLModel's per-field ``__init__`` (about 0.13 ms of an enqueue)."""
    if not _mapped:  # what __init__ would do first: the attributes work once mapped
        sa.orm.configure_mappers()
        _mapped.append(True)
    job = JobQueueEntry.model_construct(**values)
    _JOB_STATE._new_state_if_none(job)  # an ordinary ORM instance: inspectable, addable
    return job


# PostgreSQL: the dedupe check, the owner + kill switch + caps read, the execution row, the
# job row and its RQ id (= rq_job_id(id, 1), the id drawn from the job sequence first) in one
# statement, which inserts only when every check passes and returns the figures it checked,
# so the caller raises the same error the checks of insert_job would. The workflow's
# definition is copied inside the database (it never travels to Python and back).
_PG_INSERT = """
WITH owner AS ({owner}),
dup AS (SELECT id FROM job_queue WHERE dedupe_key = %(dedupe_key)s::VARCHAR),
ok AS (
  SELECT * FROM owner
  WHERE owner.user_id = %(user_id)s::INTEGER AND owner.is_active
    AND NOT coalesce(owner.halted, false) AND owner.queued < %(max_queue)s::BIGINT
    AND owner.today < %(max_daily)s::BIGINT AND NOT EXISTS (SELECT 1 FROM dup)
), new_ex AS (
  INSERT INTO workflow_executions (workflow_id, user_id, scheduled_job_id, status,
      trigger_type, trigger_payload, attempt, created_at, definition, workflow_version,
      alert_only)
  SELECT %(workflow_id)s::INTEGER, %(user_id)s::INTEGER, %(scheduled_job_id)s::INTEGER,
      %(ex_status)s::VARCHAR, %(trigger_type)s::VARCHAR, %(trigger_payload)s, 1,
      %(now)s::TIMESTAMPTZ, ok.definition, ok.version,
      coalesce(ok.alert_only, false) OR coalesce(ok.schedule_alert_only, false)
  FROM ok
  RETURNING id
), new_id AS (
  SELECT nextval(pg_get_serial_sequence('job_queue', 'id')) AS id, new_ex.id AS ex_id
  FROM new_ex
), ins AS (
  INSERT INTO job_queue (id, workflow_id, user_id, execution_id, scheduled_job_id, dedupe_key,
      rq_job_id, status, priority, retry_count, max_retries, scheduled_at, created_at,
      attempt)
  SELECT new_id.id, %(workflow_id)s::INTEGER, %(user_id)s::INTEGER, new_id.ex_id,
      %(scheduled_job_id)s::INTEGER, %(dedupe_key)s::VARCHAR,
      CASE WHEN %(dispatched)s::BOOLEAN THEN 'agentic-' || new_id.id || '-1' END,
      %(job_status)s::VARCHAR, %(priority)s::INTEGER, 0, %(max_retries)s::INTEGER,
      %(now)s::TIMESTAMPTZ, %(now)s::TIMESTAMPTZ, 1
  FROM new_id
  RETURNING id, execution_id, rq_job_id
)
SELECT (SELECT id FROM dup LIMIT 1), owner.user_id, owner.is_active, owner.halted,
    owner.queued, owner.today, ins.id, ins.execution_id, ins.rq_job_id
FROM (SELECT 1) AS one LEFT JOIN owner ON true LEFT JOIN ins ON true"""
_PgResult = namedtuple("_PgResult", "dup_id user_id is_active halted queued today "
                                    "id execution_id rq_job_id")
_pg_sql: dict[Any, tuple[str, dict[str, Any]]] = {}


def pg_insert(dialect: Any, settings: Settings, execution: dict[str, Any],
              job: dict[str, Any], *, dispatched: bool) -> tuple[str, dict[str, Any]]:
    """The PostgreSQL statement of :func:`insert_job` (psycopg placeholders) and its
    parameters, for ``execution`` and ``job`` as :func:`_values` builds them."""
    from psycopg.types.json import Jsonb

    compiled = _pg_sql.get(dialect)
    if compiled is None:
        owner = _SQL_OWNER.compile(dialect=dialect)
        compiled = _pg_sql[dialect] = (_PG_INSERT.format(owner=owner.string),
                                       dict(owner.params))
    sql, constants = compiled
    now = job["created_at"]
    return sql, {**constants, "workflow_id": job["workflow_id"], "user_id": job["user_id"],
                 "scheduled_job_id": job["scheduled_job_id"], "since": day_start(now),
                 "dedupe_key": job["dedupe_key"],
                 "max_queue": settings.queue_config.max_queue_size,
                 "max_daily": settings.limits.max_executions_per_day,
                 "ex_status": execution["status"], "trigger_type": execution["trigger_type"],
                 "trigger_payload": Jsonb(execution["trigger_payload"]), "now": now,
                 "dispatched": dispatched, "job_status": job["status"],
                 "priority": job["priority"], "max_retries": job["max_retries"]}


def pg_job(row: Any, job: dict[str, Any], settings: Settings) -> JobQueueEntry:
    """The job :func:`pg_insert`'s statement inserted; when it inserted none, the error its
    figures call for (DuplicateJobError, NotFoundError, ConflictError, LimitExceededError)."""
    result = _PgResult._make(row)
    if result.id is None:
        if result.dup_id is not None:
            raise DuplicateJobError(f"a job with dedupe_key {job['dedupe_key']!r} exists",
                                    job_id=result.dup_id)
        check_owner(None if result.user_id is None else result, settings,
                    job["workflow_id"], job["user_id"])
        raise RuntimeError("enqueue inserted no job although every check passed")
    return job_row(id=result.id, execution_id=result.execution_id,
                   rq_job_id=result.rq_job_id, **job)
