"""Attempts: claim (pending -> running), heartbeat and finish of one attempt of a job, each
conditional on ``(attempt, status)`` so a stale, duplicate or zombie RQ job changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis as redis_lib
import sqlalchemy as sa

from agentic_app.broker.safety import halted_subquery
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
from agentic_app.domain.runs import RunSubject
from agentic_app.engine.alerts import hooks
from agentic_app.engine.alerts.emit import after_commit
from agentic_app.engine.alerts.record import RecordedAlert
from agentic_app.engine.queue.dispatch import (
    WAITERS_EXIST,
    take_next_waiting,
)
from agentic_app.engine.queue.finish_redis import after_finish
from agentic_app.engine.queue.finish_sql import (
    EXECUTION_END,
    FINISH_END,
    FINISH_RETRY,
    SCHEDULE_SUCCEEDED,
    finish_params,
    pg_finish,
)
from agentic_app.engine.queue.keys import (
    REDIS_ERRORS,
    rq_job_id,
)
from agentic_app.engine.queue.retry import retry_delay
from agentic_app.engine.queue.rows import job_state, one_statement, write
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt(RunSubject):
    """What a task needs to run one claimed attempt (ids are ints here)."""

    job_id: int
    definition: dict[str, Any]
    first_seq: int
    state: Any = None
    """The job row as claimed (the columns of a job-state read): the finish of this attempt
    needs no read of its own (see ``finish_attempt(known_state=)``)."""
    alert_only: bool = False
    """An alert-only run: order nodes send their orders as alerts instead of trading."""
    halted: bool = False
    """The user's kill switch was engaged at the claim (read by the claim's statement)."""
    waiters: bool = True
    """The user had a job waiting for a slot at the claim (see ``finish_attempt(waiters=)``)."""


_JQ = JobQueueEntry.__table__
_EX = WorkflowExecution.__table__
_WF = Workflow.__table__
_P = sa.bindparam
_SQL_CLAIM = (
    sa.update(_JQ)
    .where(_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
           _JQ.c.status == JobStatus.pending.value)
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
    """The definition stored with the execution (the version it was created with), or for
    rows from before that snapshot existed the workflow's current one. Each subquery reads
    one table (see the RETURNING note below)."""
    executions = _EX.alias("ex")
    snapshot = (sa.select(executions.c.definition)
                .where(executions.c.id == _P("execution_id")).scalar_subquery())
    current = (sa.select(_WF.c.definition)
               .where(_WF.c.id == sa.select(executions.c.workflow_id)
                      .where(executions.c.id == _P("execution_id")).scalar_subquery())
               .scalar_subquery())
    return sa.func.coalesce(snapshot, current)


# the execution goes running and returns what the attempt needs, in one statement
_SQL_EX_RUNNING = (
    sa.update(_EX).where(_EX.c.id == _P("execution_id")).values(
        status=ExecutionStatus.running.value, attempt=_P("b_attempt"),
        started_at=sa.func.coalesce(_EX.c.started_at, _P("now", type_=_EX.c.started_at.type)),
        finished_at=None)
    # the subqueries use only the bound id: RETURNING renders columns unqualified, so a
    # correlated "id" would name the subquery's own table
    .returning(_EX.c.trigger_payload, _EX.c.alert_only, _definition().label("definition"),
               _max_seq().label("max_seq"),
               halted_subquery(_P("b_user_id")).label("halted"),
               WAITERS_EXIST.label("waiters")))


@dataclass(frozen=True)
class _Heir:
    """The waiting job a finish handed its slot to."""

    id: int
    attempt: int
    priority: int


_SQL_HEARTBEAT = (sa.update(_JQ)
                  .where(_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
                         _JQ.c.status == JobStatus.running.value)
                  .values(heartbeat_at=_P("now", type_=_JQ.c.heartbeat_at.type)))


# PostgreSQL: both updates in one statement (data-modifying CTEs), run in autocommit, so a
# claim is one round trip instead of four (BEGIN, two updates, COMMIT)
_SQL_CLAIM_PG = sa.text("""
WITH j AS (
  UPDATE job_queue SET status = :running, started_at = :now, heartbeat_at = :now,
         next_attempt_at = NULL, worker_name = :b_worker_name
  WHERE id = :job_id AND attempt = :b_attempt AND status = :pending
  RETURNING status, attempt, retry_count, max_retries, execution_id, scheduled_job_id,
            user_id, priority, rq_job_id, workflow_id
), x AS (
  UPDATE workflow_executions AS ex SET status = :running, attempt = :b_attempt,
         started_at = coalesce(ex.started_at, :now), finished_at = NULL
  FROM j WHERE ex.id = j.execution_id
  RETURNING ex.id AS ex_id, ex.trigger_payload, ex.alert_only,
    coalesce(ex.definition,
             (SELECT w.definition FROM workflows AS w WHERE w.id = ex.workflow_id)) AS definition,
    (SELECT max(e.seq) FROM execution_events AS e WHERE e.execution_id = ex.id) AS max_seq
)
SELECT j.*, x.trigger_payload, x.alert_only, x.definition, x.max_seq,
  (SELECT h.engaged FROM trading_halts AS h WHERE h.user_id = j.user_id) AS halted,
  EXISTS (SELECT 1 FROM job_queue AS w WHERE w.user_id = j.user_id
          AND w.status = 'pending' AND w.rq_job_id IS NULL) AS waiters
FROM j LEFT JOIN x ON x.ex_id = j.execution_id""")


def claim_attempt(*, db: Database, job_id: int, attempt: int,
                  worker_name: str | None = None) -> Attempt | None:
    """pending -> running for this attempt; None when the RQ job is stale (state moved on).
    The job and its execution change together, and the user's kill switch is read with
    them (``Attempt.halted``): one statement on PostgreSQL, one transaction under the write
    lock on SQLite."""
    now = utcnow()
    params = {"job_id": job_id, "b_attempt": attempt, "now": now,
              "b_worker_name": worker_name}
    if db.dialect == "postgresql":
        with one_statement(db) as conn:
            job = row = conn.execute(_SQL_CLAIM_PG, {
                **params, "running": JobStatus.running.value,
                "pending": JobStatus.pending.value}).first()
        if job is None:
            return None
        return _claimed(job, row, job_id, attempt)
    with write(db) as conn:
        job = conn.execute(_SQL_CLAIM, params).first()
        if job is None:
            return None
        row = conn.execute(_SQL_EX_RUNNING, {"execution_id": job.execution_id,
                                             "b_attempt": attempt, "now": now,
                                             "b_user_id": job.user_id}).first()
    return _claimed(job, row, job_id, attempt)


def _claimed(job: Any, row: Any, job_id: int, attempt: int) -> Attempt:
    """The claimed attempt from the job row and the execution's (definition, payload,
    last stored seq)."""
    max_seq = row.max_seq if row else None
    return Attempt(job_id=job_id, attempt=attempt, execution_id=job.execution_id,
                   user_id=job.user_id, workflow_id=job.workflow_id,
                   definition=dict((row.definition if row else None) or {}),
                   trigger_payload=dict((row.trigger_payload if row else None) or {}),
                   first_seq=(max_seq or 0) + 1, state=job,
                   alert_only=bool(row.alert_only) if row else False,
                   halted=bool(row.halted) if row else False,
                   waiters=bool(row.waiters) if row else True)


def heartbeat(*, db: Database, job_id: int, attempt: int) -> bool:
    """Record that this running attempt is alive; False once it is no longer current."""
    with write(db) as conn:
        return bool(conn.execute(_SQL_HEARTBEAT, {"job_id": job_id, "b_attempt": attempt,
                                                  "now": utcnow()}).rowcount)


def finish_attempt(*, db: Database, redis: redis_lib.Redis | None, job_id: int,
                   attempt: int, status: str, error: str | None = None,
                   retryable: bool = False, from_statuses: tuple[str, ...] = ("running",),
                   settings: Settings | None = None,
                   before_end: Callable[[sa.Connection], None] | None = None,
                   after_end: Callable[[Any], None] | None = None,
                   known_state: Any = None, waiters: bool = True,
                   in_statement: Callable[[], tuple[tuple[Any, ...], dict[str, Any]] | None]
                   | None = None) -> str:
    """Record the end of an attempt; returns ``"completed"``, ``"failed"``, ``"cancelled"``,
    ``"retrying"`` or ``"stale"`` (the attempt was no longer current: nothing changed).

    ``before_end(conn)`` runs in the same transaction, before the status is written, when
    the attempt is still current (e.g. the attempt's last events are stored with it: one
    commit, and never a final status before its events); it is committed even if the
    attempt turns out stale at the conditional update. ``after_end(pipe)`` adds commands
    (e.g. publishing those events) to the Redis transaction that follows a recorded end
    (one round trip); it is not called when nothing was recorded (``"stale"``).
    ``in_statement()``: on PostgreSQL, instead of ``before_end``, the data-modifying CTEs
    (and their parameters) that do its work inside the finish's own statement, or None when
    they cannot; called when the attempt is current and the finish needs no session (not a
    final failure). The finish is then one statement in autocommit: one round trip and one
    commit instead of BEGIN, ``before_end``'s statements, the finish and COMMIT.
    ``known_state``: the job row as this attempt's claim returned it (``Attempt.state``),
    saving the read; the conditional update still detects a job that moved on meanwhile.
    ``waiters=False``: the claim saw no job of the user waiting for a slot, so the finish
    looks for no heir in SQL; a job that started waiting since then raised the user's
    waiting flag, which the finish's Redis step reads (and then dispatches it).

    A retryable failure with retries left becomes a new pending attempt after its backoff
    (keeping its slot); otherwise the job ends and its slot goes, in the same transaction, to
    the user's next waiting job (dispatched at once), else is freed. A scheduled job's
    consecutive failures are counted here (final failures only; a success resets them) and
    it is paused, with a notification to its owner, at ``auto_pause_after_failures``.
    """
    settings = settings or get_settings()
    now = utcnow()
    end = dict(job_id=job_id, attempt=attempt, status=status, error=error,
               retryable=retryable, from_statuses=from_statuses, settings=settings, now=now,
               heir_wanted=redis is not None and waiters)
    job = known_state
    if (in_statement is not None and job is not None and db.dialect == "postgresql"
            and job.execution_id is not None):
        plan = _plan(job, **end)
        if plan is None:
            return "stale"
        part = None if plan.session_needed else in_statement()
        if part is not None:
            with one_statement(db) as conn:
                done, heir = _pg_end(conn, plan, *part)
            if not done:
                return "stale"
            return _recorded(redis, db, settings, job, plan, heir, [], after_end)
    with write(db) as conn:
        job = job if job is not None else job_state(conn, job_id)
        plan = _plan(job, **end)
        if plan is None:
            return "stale"
        if before_end is not None:
            before_end(conn)
        heir = None
        pg_statement = job.execution_id is not None and conn.dialect.name == "postgresql"
        if pg_statement:
            # the job, its execution and the slot's heir in one statement (round trips less)
            done, heir = _pg_end(conn, plan)
        else:
            done = conn.execute(FINISH_RETRY if plan.retry else FINISH_END,
                                plan.params).rowcount
            if done and job.execution_id is not None:
                conn.execute(EXECUTION_END, plan.params)
            if done and plan.schedule_succeeded:
                conn.execute(SCHEDULE_SUCCEEDED, plan.params)
        if not done:
            return "stale"
        alerts = []
        if plan.session_needed:
            from sqlmodel import Session

            with Session(bind=conn) as s:
                alerts.append(hooks.final_failure(
                    s, user_id=job.user_id, job_id=job_id, execution_id=job.execution_id,
                    scheduled_job_id=job.scheduled_job_id, error=error, settings=settings))
                if job.scheduled_job_id is not None:
                    alerts.append(_count_scheduled_failure(s, job.scheduled_job_id, error,
                                                           settings))
                s.flush()
        if plan.wants_heir and not pg_statement:
            heir = take_next_waiting(conn, job.user_id)
    return _recorded(redis, db, settings, job, plan, heir, alerts, after_end)


@dataclass(frozen=True)
class _Plan:
    """What a current attempt's finish writes: a retry or the job's end, the statements'
    parameters, and which parts it needs."""

    retry: bool
    delay: int
    params: dict[str, Any]
    wants_heir: bool
    """The job ends holding a slot and the user may have a job waiting for one."""
    schedule_succeeded: bool
    session_needed: bool
    """A final failure: counted, alerted and maybe pausing its schedule (ORM session)."""


def _plan(job: Any, *, job_id: int, attempt: int, status: str, error: str | None,
          retryable: bool, from_statuses: tuple[str, ...], settings: Settings, now: Any,
          heir_wanted: bool) -> _Plan | None:
    """The finish of ``attempt`` of ``job`` (its queue columns); None when the attempt is
    no longer current (stale)."""
    if job is None or job.attempt != attempt or job.status not in from_statuses:
        return None
    retry = (status == JobStatus.failed.value and retryable
             and job.retry_count < job.max_retries)
    base = dict(job_id=job_id, b_attempt=attempt, from_statuses=list(from_statuses),
                b_error=error, b_execution_id=job.execution_id, b_user_id=job.user_id,
                b_scheduled_job_id=job.scheduled_job_id, b_now=now)
    delay = 0
    if retry:
        delay = retry_delay(settings, job.retry_count + 1)
        params = finish_params(**base, b_retry_count=job.retry_count + 1,
                               b_new_attempt=attempt + 1,
                               b_next_attempt_at=now + timedelta(seconds=delay),
                               b_rq_job_id=rq_job_id(job_id, attempt + 1),
                               b_ex_status=ExecutionStatus.pending.value)
    else:
        params = finish_params(**base, b_status=status, b_completed_at=now,
                               b_ex_status=status, b_ex_finished_at=now)
    held = job.status == JobStatus.running.value or job.rq_job_id is not None
    return _Plan(retry=retry, delay=delay, params=params,
                 wants_heir=not retry and held and heir_wanted,
                 schedule_succeeded=(not retry and job.scheduled_job_id is not None
                                     and status == JobStatus.completed.value),
                 session_needed=not retry and status == JobStatus.failed.value)


def _pg_end(conn: sa.Connection, plan: _Plan, ctes: tuple[Any, ...] = (),
            values: dict[str, Any] | None = None) -> tuple[bool, _Heir | None]:
    """PostgreSQL: run ``plan``'s finish statement (:func:`pg_finish`, with ``ctes`` and
    their ``values``); whether it changed the job, and the waiting job it dispatched."""
    statement = pg_finish("retry" if plan.retry else "end", take_heir=plan.wants_heir,
                          schedule_succeeded=plan.schedule_succeeded, ctes=ctes)
    row = conn.execute(statement, {**plan.params, **(values or {})}).one()
    heir = (_Heir(row.heir_id, row.heir_attempt, row.heir_priority)
            if plan.wants_heir and row.heir_id is not None else None)
    return bool(row.done), heir


def _recorded(redis: redis_lib.Redis | None, db: Database, settings: Settings, job: Any,
              plan: _Plan, heir: Any, alerts: list[RecordedAlert | None],
              after_end: Callable[[Any], None] | None) -> str:
    """After a finish is committed: its alerts and its Redis step; the outcome."""
    job_id, attempt = plan.params["job_id"], plan.params["b_attempt"]
    outcome = "retrying" if plan.retry else plan.params["b_status"]
    if redis is None:
        return outcome
    for alert in alerts:
        after_commit(redis, alert)
    try:
        after_finish(redis, job_id=job_id, attempt=attempt, user_id=job.user_id,
                     priority=job.priority, retry=plan.retry, delay=plan.delay, heir=heir,
                     db=db, settings=settings, extra=after_end)
    except REDIS_ERRORS:
        log.warning("job %s: Redis error after finishing attempt %s (maintenance repairs)",
                    job_id, attempt, exc_info=True)
    return outcome


def _count_scheduled_failure(s: Any, scheduled_job_id: int, error: str | None,
                             settings: Settings) -> RecordedAlert | None:
    """Count a scheduled job's final failure (one more consecutive failure), pausing it
    (with an alert to its owner, returned) at the configured threshold. A success resets
    the count (:data:`~agentic_app.engine.queue.finish_sql.SCHEDULE_SUCCEEDED`)."""
    sj = s.get(ScheduledJob, scheduled_job_id)
    if sj is None:
        return None
    alert = None
    sj.consecutive_failures += 1
    sj.failed_count += 1
    threshold = settings.limits.auto_pause_after_failures
    if sj.consecutive_failures >= threshold and sj.is_active:
        sj.is_active = False
        sj.paused_at = utcnow()
        sj.paused_reason = (f"paused after {sj.consecutive_failures} consecutive failed "
                            f"executions; last error: {error or 'unknown'}")[:500]
        alert = hooks.schedule_paused(s, sj, settings)
    sj.updated_at = utcnow()
    s.add(sj)
    return alert
