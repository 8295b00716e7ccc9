"""The statements of an attempt's finish: the conditional job update (retry or end), the
execution's end, a scheduled job's success and, on PostgreSQL, all of them as one statement.

Built once per process (building and cache-keying a statement per call cost more than
running it); parameters are bound at execution (``b_<name>``).
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from agentic_app.db.models import JobQueueEntry, JobStatus, ScheduledJob, WorkflowExecution
from agentic_app.engine.queue.dispatch import NEXT_WAITING_UPDATE

_JQ = JobQueueEntry.__table__
_EX = WorkflowExecution.__table__
_SJ = ScheduledJob.__table__
_P = sa.bindparam

_FINISH_WHERE = (_JQ.c.id == _P("job_id"), _JQ.c.attempt == _P("b_attempt"),
                 _JQ.c.status.in_(_P("from_statuses", expanding=True)))
FINISH_RETRY = sa.update(_JQ).where(*_FINISH_WHERE).values(
    status=JobStatus.pending.value, retry_count=_P("b_retry_count"),
    attempt=_P("b_new_attempt"), error_message=_P("b_error"),
    next_attempt_at=_P("b_next_attempt_at", type_=_JQ.c.next_attempt_at.type),
    rq_job_id=_P("b_rq_job_id"), heartbeat_at=sa.null(), worker_name=sa.null())
"""The attempt failed with retries left: the job is pending again, as its next attempt."""
FINISH_END = sa.update(_JQ).where(*_FINISH_WHERE).values(
    status=_P("b_status"), completed_at=_P("b_completed_at", type_=_JQ.c.completed_at.type),
    error_message=_P("b_error"), heartbeat_at=sa.null(), next_attempt_at=sa.null())
"""The job ends with the attempt (completed, failed or cancelled)."""
EXECUTION_END = sa.update(_EX).where(_EX.c.id == _P("b_execution_id")).values(
    status=_P("b_ex_status"), error=_P("b_error"),
    finished_at=_P("b_ex_finished_at", type_=_EX.c.finished_at.type))
"""The execution's status after the attempt (pending again for a retry)."""
SCHEDULE_SUCCEEDED = sa.update(_SJ).where(_SJ.c.id == _P("b_scheduled_job_id")).values(
    consecutive_failures=0, updated_at=_P("b_now", type_=_SJ.c.updated_at.type))
"""A scheduled job's run completed: its count of consecutive failures starts again."""


_PARAMS = ("job_id", "b_attempt", "from_statuses", "b_error", "b_execution_id", "b_user_id",
           "b_scheduled_job_id", "b_now", "b_retry_count", "b_new_attempt",
           "b_next_attempt_at", "b_rq_job_id", "b_status", "b_completed_at", "b_ex_status",
           "b_ex_finished_at")


def finish_params(**values: Any) -> dict[str, Any]:
    """The parameters of a finish's statements: every name any of them binds (None unless
    given), one set of names for every variant, so each is compiled once (SQLAlchemy caches
    a compiled statement per set of parameter names; the priming relies on it)."""
    unknown = set(values) - set(_PARAMS)
    if unknown:
        raise TypeError(f"not a finish parameter: {sorted(unknown)}")
    return {name: values.get(name) for name in _PARAMS}


@functools.cache
def pg_finish(kind: str, *, take_heir: bool = False, schedule_succeeded: bool = False,
              ctes: tuple[Any, ...] = ()) -> Any:
    """PostgreSQL: the job update (``kind``: ``"retry"`` or ``"end"``) and, only when it
    changed the job, the execution's end, in one statement (data-modifying CTEs); selects
    how many job rows changed (``done``).

    ``take_heir``: it also marks the user's next waiting job dispatched
    (:data:`~agentic_app.engine.queue.dispatch.NEXT_WAITING_UPDATE`, only when the job
    ended) and selects it (``heir_id``, ``heir_attempt``, ``heir_priority``).
    ``schedule_succeeded``: also :data:`SCHEDULE_SUCCEEDED`, when the job ended.
    ``ctes``: further data-modifying CTEs run by the same statement whatever the job update
    does (e.g. the attempt's last events, stored even by a stale finish, as a finish's
    ``before_end`` is)."""
    job = (FINISH_RETRY if kind == "retry" else FINISH_END).returning(_JQ.c.id).cte("job_end")
    ended = sa.exists(sa.select(job.c.id))
    ex = EXECUTION_END.where(ended).returning(_EX.c.id).cte("execution_end")
    columns = [sa.select(sa.func.count()).select_from(job).scalar_subquery().label("done"),
               sa.select(sa.func.count()).select_from(ex).scalar_subquery().label("ex_done")]
    if take_heir:
        heir = NEXT_WAITING_UPDATE.where(ended).cte("heir")
        columns += [sa.select(heir.c[name]).scalar_subquery().label(f"heir_{name}")
                    for name in ("id", "attempt", "priority")]
    statement = sa.select(*columns)
    if schedule_succeeded:
        statement = statement.add_cte(SCHEDULE_SUCCEEDED.where(ended).cte("schedule_ok"))
    return statement.add_cte(*ctes) if ctes else statement


def compile_finishes(conn: sa.Connection, ctes: tuple[Any, ...] = (),
                     ctes_params: dict[str, Any] | None = None) -> None:
    """PostgreSQL: run each variant of :func:`pg_finish` once, on no job (it changes nothing;
    ``ctes`` with ``ctes_params`` that write nothing), so their statements are compiled
    before a worker forks (its work-horses would each compile them again)."""
    if conn.dialect.name != "postgresql":
        return
    from agentic_app.db.models import utcnow

    now = utcnow()
    params = {**finish_params(job_id=-1, b_attempt=0, from_statuses=["running"],
                              b_execution_id=-1, b_user_id=-1, b_scheduled_job_id=-1,
                              b_now=now, b_status="completed", b_completed_at=now,
                              b_ex_status="completed", b_ex_finished_at=now),
              **(ctes_params or {})}
    variants = [("retry", False, False)] + [("end", heir, scheduled) for heir in (False, True)
                                            for scheduled in (False, True)]
    for kind, heir, scheduled in variants:
        for extra in ((), ctes) if ctes else ((),):
            conn.execute(pg_finish(kind, take_heir=heir, schedule_succeeded=scheduled,
                                   ctes=extra), params)
