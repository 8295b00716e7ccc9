"""job_queue rows: the queue's write transaction and the reads of one job or the queue size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa

from agentic_app.db.engine import Database
from agentic_app.db.models import JobQueueEntry, JobStatus
from agentic_app.domain.errors import NotFoundError

TERMINAL = (JobStatus.completed.value, JobStatus.failed.value, JobStatus.cancelled.value)
"""Statuses a job never leaves (except by a manual retry)."""

_JQ = JobQueueEntry.__table__
# Statements built once (building and cache-keying a statement per call cost more than
# running it); parameters are bound at execution.
_SQL_JOB_STATE = sa.select(
    _JQ.c.status, _JQ.c.attempt, _JQ.c.retry_count, _JQ.c.max_retries, _JQ.c.execution_id,
    _JQ.c.scheduled_job_id, _JQ.c.user_id, _JQ.c.priority, _JQ.c.rq_job_id,
).where(_JQ.c.id == sa.bindparam("job_id"))
PENDING_COUNT = sa.select(sa.func.count()).select_from(_JQ).where(
    _JQ.c.status == JobStatus.pending.value)
"""Pending jobs (waiting for a slot, dispatched or in backoff): what max_queue_size caps."""

_outer_conn: ContextVar[sa.Connection | None] = ContextVar("job_queue_outer_conn", default=None)
"""Set by :func:`inside` (statement-cache priming): :func:`write` then uses this connection."""


@contextmanager
def write(db: Database) -> Iterator[sa.Connection]:
    """A Core connection in a write transaction, committed on success (cheaper than an ORM
    session; on SQLite it holds the write lock from the start, see ``Database.write``)."""
    outer = _outer_conn.get()
    if outer is not None:
        yield outer
        return
    with db.write() as conn:
        yield conn


@contextmanager
def one_statement(db: Database) -> Iterator[sa.Connection]:
    """A connection for one self-contained write statement. On PostgreSQL it runs in
    autocommit, so the statement is its own transaction: one round trip instead of BEGIN,
    statement, COMMIT. On SQLite a write transaction (the write lock from the start)."""
    outer = _outer_conn.get()
    if outer is not None:
        yield outer
        return
    if db.dialect != "postgresql":
        with db.write() as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def inside(conn: sa.Connection) -> Iterator[None]:
    """Run the queue's claim/finish/heartbeat statements in ``conn``'s transaction (the
    caller commits or rolls back): used to compile them once in a worker before it forks."""
    token = _outer_conn.set(conn)
    try:
        yield
    finally:
        _outer_conn.reset(token)


def job_state(conn: sa.Connection, job_id: int) -> Any:
    """The job's queue columns (status, attempt, retries, execution, owner, priority, RQ id)
    as a row, or None when the job does not exist."""
    return conn.execute(_SQL_JOB_STATE, {"job_id": job_id}).first()


def count_pending(conn: sa.Connection) -> int:
    """Pending jobs (waiting for a slot, dispatched or in backoff): what max_queue_size caps."""
    return int(conn.execute(PENDING_COUNT).scalar() or 0)


def get_job(db: Database, job_id: int) -> JobQueueEntry:
    """The job row (detached); NotFoundError when missing."""
    with db.session() as s:
        job = s.get(JobQueueEntry, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", field="job_id")
        return job


def queue_depth(db: Database) -> int:
    """Pending jobs (waiting for a slot, dispatched or in backoff): what max_queue_size caps."""
    with db.engine.connect() as conn:
        return count_pending(conn)
