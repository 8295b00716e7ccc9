"""Dispatch: a waiting job takes a slot, is marked dispatched and gets its RQ job; a freed
slot goes to the user's next waiting job (priority, then FIFO)."""

from __future__ import annotations

import logging
from typing import Any

import redis as redis_lib
import sqlalchemy as sa

from agentic_app.db.engine import Database
from agentic_app.db.models import JobQueueEntry, JobStatus
from agentic_app.engine.queue.keys import (
    REDIS_ERRORS,
    RQ_JOB_PREFIX,
    rq_job_id,
    slots_key,
    waiting_key,
)
from agentic_app.engine.queue.limits import take_slot
from agentic_app.engine.queue.rows import TERMINAL, get_job, job_state, write
from agentic_app.engine.queue.rq_jobs import enqueue_rq, transaction
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

_JQ = JobQueueEntry.__table__
_P = sa.bindparam
_PENDING = JobStatus.pending.value
_SQL_MARK_DISPATCHED = (
    sa.update(_JQ)
    .where(_JQ.c.id == _P("job_id"), _JQ.c.status == _PENDING,
           _JQ.c.attempt == _P("b_attempt"), _JQ.c.rq_job_id.is_(None))
    .values(rq_job_id=_P("b_rq_job_id")))
_WAITER = _JQ.alias("waiter")


def _waiting(table: Any) -> Any:
    """``table``'s row waits for a slot (pending, no RQ job), spelled with a literal status so
    the partial index ``ix_job_queue_waiting`` serves it (a bound value could not)."""
    return sa.and_(table.c.status == sa.literal_column(f"'{_PENDING}'"),
                   table.c.rq_job_id.is_(None))


NEXT_WAITING_UPDATE = (
    sa.update(_JQ)
    .where(_JQ.c.id == sa.select(_WAITER.c.id)
           .where(_WAITER.c.user_id == _P("b_user_id"), _waiting(_WAITER))
           .order_by(_WAITER.c.priority.desc(), _WAITER.c.id).limit(1).scalar_subquery(),
           _JQ.c.status == _PENDING, _JQ.c.rq_job_id.is_(None))  # re-checked under a row lock
    .values(rq_job_id=sa.literal(RQ_JOB_PREFIX) + sa.cast(_JQ.c.id, sa.String) + "-"
            + sa.cast(_JQ.c.attempt, sa.String))  # = rq_job_id(id, attempt)
    .returning(_JQ.c.id, _JQ.c.attempt, _JQ.c.priority, _JQ.c.rq_job_id))
"""The user's (``b_user_id``) next waiting job marked dispatched, in one statement; the
queue's finish on PostgreSQL embeds it in its own statement."""
WAITERS_EXIST = sa.exists().where(_WAITER.c.user_id == _P("b_user_id"), _waiting(_WAITER))
"""Whether the user (``b_user_id``) has a job waiting for a slot (read by the claim, so a
finish whose claim saw none skips :data:`NEXT_WAITING_UPDATE`)."""
_SQL_WAITING = (sa.select(_JQ.c.id, _JQ.c.attempt, _JQ.c.priority)
                .where(_JQ.c.user_id == _P("user_id"), _waiting(_JQ))
                .order_by(_JQ.c.priority.desc(), _JQ.c.id).limit(_P("limit")))


def take_next_waiting(conn: sa.Connection, user_id: int) -> Any:
    """Mark the user's next waiting job (priority, then FIFO) dispatched in ``conn``'s
    transaction; returns it (id, attempt, priority, rq_job_id) or None. The caller moves the
    freed slot to it and pushes its RQ job after the commit."""
    return conn.execute(NEXT_WAITING_UPDATE, {"b_user_id": user_id}).first()


def dispatch(*, db: Database, redis: redis_lib.Redis, job_id: int,
             settings: Settings | None = None) -> str:
    """Try to start a waiting job: ``"dispatched"``, ``"full"`` (no slot) or ``"skipped"``."""
    settings = settings or get_settings()
    with write(db) as conn:
        job = job_state(conn, job_id)
    if job is None or job.status != JobStatus.pending.value or job.rq_job_id is not None:
        return "skipped"
    return dispatch_row(db, redis, job_id=job_id, user_id=job.user_id, attempt=job.attempt,
                        priority=job.priority, settings=settings)


def dispatch_row(db: Database, redis: redis_lib.Redis, *, job_id: int, user_id: int,
                 attempt: int, priority: int, settings: Settings,
                 flag_waiting: bool = False) -> str:
    """Dispatch one waiting attempt whose row the caller has read (see :func:`dispatch`);
    ``flag_waiting``: raise the user's waiting flag in the gate call (see take_slot)."""
    if not take_slot(redis, user_id, job_id, settings.limits.max_concurrent_per_user,
                     flag_waiting=flag_waiting):
        return "full"
    with write(db) as conn:
        claimed = bool(conn.execute(_SQL_MARK_DISPATCHED, {
            "job_id": job_id, "b_attempt": attempt,
            "b_rq_job_id": rq_job_id(job_id, attempt)}).rowcount)
    if not claimed:
        if get_job(db, job_id).status in TERMINAL:
            redis.srem(slots_key(user_id), str(job_id))
        return "skipped"
    enqueue_rq(redis, job_id=job_id, attempt=attempt, priority=priority, settings=settings)
    return "dispatched"


def dispatch_waiting(*, db: Database, redis: redis_lib.Redis, user_id: int,
                     settings: Settings | None = None) -> int:
    """Dispatch the user's waiting jobs (priority, then FIFO) while slots are free."""
    settings = settings or get_settings()
    started = 0
    while True:
        with write(db) as conn:
            rows = conn.execute(_SQL_WAITING, {"user_id": user_id, "limit": 20}).all()
        if not rows:
            return started
        progressed = False
        for row in rows:
            outcome = dispatch_row(db, redis, job_id=row.id, user_id=user_id,
                                   attempt=row.attempt, priority=row.priority,
                                   settings=settings)
            if outcome == "full":
                return started
            if outcome == "dispatched":
                started += 1
                progressed = True
        if not progressed:
            return started


def release_slot(*, db: Database, redis: redis_lib.Redis, user_id: int, job_id: int,
                 settings: Settings | None = None) -> None:
    """Free a job's slot and dispatch the user's next waiting job (Redis errors are logged)."""
    try:
        redis.srem(slots_key(user_id), str(job_id))
        dispatch_waiting(db=db, redis=redis, user_id=user_id, settings=settings)
    except REDIS_ERRORS:
        log.warning("could not free slot of job %s (maintenance will)", job_id, exc_info=True)


def drop_reservation(db: Database, redis: redis_lib.Redis, user_id: int, token: str | None,
                     settings: Settings) -> None:
    """Give back the slot reserved by an enqueue that failed; a job that found the slots
    full meanwhile is dispatched now."""
    if token is None:
        return
    try:
        pipe = transaction(redis)
        pipe.srem(slots_key(user_id), token)
        pipe.exists(waiting_key(user_id))
        if pipe.execute()[-1]:
            dispatch_waiting(db=db, redis=redis, user_id=user_id, settings=settings)
    except REDIS_ERRORS:
        log.warning("reservation %s not dropped (it expires)", token)
    except Exception:
        log.exception("dispatch after a dropped reservation failed (maintenance will)")
