"""Retention: delete old finished jobs, their executions' history and their RQ jobs/results.

A ``job_queue`` row is old when its ``completed_at`` (or ``created_at`` if it never
completed) is before ``now - days``: ``completed_days`` for completed and cancelled rows,
``failed_days`` (longer) for failed ones. Its execution goes too, with every row that has a
foreign key to ``workflow_executions`` (events, node executions, metrics, other job rows;
found by reflecting the database, so tables added later are handled), unless the execution is
still pending/running or another job row of it is not old yet. Orders and notifications keep
their ``execution_id`` as a plain column and are never touched. RQ job hashes and results of
the deleted rows are removed afterwards (best effort: RQ also expires them by itself).
Missed-run records of scheduled jobs are purged with them: older than ``failed_days``, and
beyond the newest ``max_missed_runs`` of each job; so are alerts (inbox entries and their
deliveries) older than ``failed_days``.
The scheduler/worker loop calls :func:`run_retention` periodically.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa

from agentic_app.db.engine import Database
from agentic_app.db.models import JobQueueEntry, JobStatus, WorkflowExecution, utcnow
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.engine.alerts.retention import purge_alerts
from agentic_app.engine.queue.names import QUEUE_NAMES

logger = logging.getLogger(__name__)

DEFAULT_COMPLETED_DAYS = 7
"""Days completed and cancelled jobs are kept (until settings provide RETENTION__...)."""
DEFAULT_FAILED_DAYS = 30
"""Days failed jobs are kept."""
DEFAULT_MAX_MISSED_RUNS = 100
"""Missed-run records kept per scheduled job."""
BATCH_SIZE = 500
"""Executions deleted per transaction."""
_ACTIVE = (JobStatus.pending.value, JobStatus.running.value)
_RQ_REGISTRIES = ("finished", "failed", "canceled")


def _older_than(cutoff: datetime) -> Any:
    done_at = JobQueueEntry.completed_at
    return sa.or_(
        sa.and_(done_at.is_not(None), done_at < cutoff),
        sa.and_(done_at.is_(None), JobQueueEntry.created_at < cutoff),
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _execution_children(engine: sa.Engine) -> list[tuple[str, str]]:
    """(table, column) pairs holding a foreign key to workflow_executions.id."""
    inspector = sa.inspect(engine)
    found = []
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            if fk.get("referred_table") == WorkflowExecution.__tablename__:
                found.extend((table, col) for col in fk["constrained_columns"])
    return found


def trim_missed_runs(conn: sa.Connection, keep: int, *, job_id: int | None = None,
                     before: datetime | None = None) -> int:
    """Delete missed-run records recorded before ``before`` and all but the newest ``keep``
    (by fire time) of one job, or of every job; returns how many were deleted."""
    table = MissedRun.__table__
    deleted = 0
    if before is not None:
        deleted += conn.execute(sa.delete(table).where(table.c.recorded_at < before)).rowcount
    ranked = sa.select(
        table.c.id, sa.func.row_number().over(
            partition_by=table.c.scheduled_job_id,
            order_by=(table.c.fire_time.desc(), table.c.id.desc())).label("rank"))
    if job_id is not None:
        ranked = ranked.where(table.c.scheduled_job_id == job_id)
    ranked = ranked.subquery()
    doomed = sa.select(ranked.c.id).where(ranked.c.rank > keep)
    return deleted + conn.execute(sa.delete(table).where(table.c.id.in_(doomed))).rowcount


def purge_old(
    db: Database,
    redis_client: redis.Redis | None,
    *,
    completed_days: float = DEFAULT_COMPLETED_DAYS,
    failed_days: float = DEFAULT_FAILED_DAYS,
    max_missed_runs: int = DEFAULT_MAX_MISSED_RUNS,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete old completed/cancelled (``completed_days``) and failed (``failed_days``) jobs,
    their executions with all dependent rows, and their RQ jobs and results; and missed-run
    records older than ``failed_days`` or past each job's newest ``max_missed_runs``.
    Returns deleted counts: one key per table, plus ``rq_jobs``."""
    now = now or utcnow()
    old = sa.or_(
        sa.and_(JobQueueEntry.status.in_([JobStatus.completed.value, JobStatus.cancelled.value]),
                _older_than(now - timedelta(days=completed_days))),
        sa.and_(JobQueueEntry.status == JobStatus.failed.value,
                _older_than(now - timedelta(days=failed_days))),
    )
    counts: Counter[str] = Counter()
    rq_ids: list[str] = []
    with db.session() as session:
        candidates = session.execute(
            sa.select(JobQueueEntry.id, JobQueueEntry.execution_id).where(old)).all()
        exec_ids = {e for _, e in candidates if e is not None}
        # keep executions still active or with a job row that is not old yet
        kept = set(session.execute(
            sa.select(JobQueueEntry.execution_id).where(
                JobQueueEntry.execution_id.in_(exec_ids), sa.not_(old))).scalars())
        kept |= set(session.execute(
            sa.select(WorkflowExecution.id).where(
                WorkflowExecution.id.in_(exec_ids), WorkflowExecution.status.in_(_ACTIVE)))
            .scalars())
    doomed = sorted(exec_ids - kept)
    orphan_rows = sorted(row_id for row_id, e in candidates if e is None)
    children = _execution_children(db.engine)
    job_table = JobQueueEntry.__table__
    for chunk in _chunks(doomed, batch_size):
        with db.write() as conn:
            rq_ids += conn.execute(sa.select(job_table.c.rq_job_id).where(
                job_table.c.execution_id.in_(chunk))).scalars().all()
            for table, column in children:
                target = sa.table(table, sa.column(column))
                counts[table] += conn.execute(
                    sa.delete(target).where(target.c[column].in_(chunk))).rowcount
            execs = WorkflowExecution.__table__
            counts[execs.name] += conn.execute(
                sa.delete(execs).where(execs.c.id.in_(chunk))).rowcount
    for chunk in _chunks(orphan_rows, batch_size):
        with db.write() as conn:
            rq_ids += conn.execute(sa.select(job_table.c.rq_job_id).where(
                job_table.c.id.in_(chunk))).scalars().all()
            counts[job_table.name] += conn.execute(
                sa.delete(job_table).where(job_table.c.id.in_(chunk))).rowcount
    with db.write() as conn:
        counts[MissedRun.__tablename__] += trim_missed_runs(
            conn, max_missed_runs, before=now - timedelta(days=failed_days))
    counts["rq_jobs"] = delete_rq_jobs(redis_client, [i for i in rq_ids if i])
    result = {name: int(n) for name, n in counts.items()}
    if any(result.values()):
        logger.info("retention purged %s", result)
    return result


def delete_rq_jobs(redis_client: redis.Redis | None, job_ids: Sequence[str]) -> int:
    """Delete RQ job hashes, their results and registry entries; returns how many job hashes
    existed. Never raises on Redis errors (logs them): RQ's own TTLs clean up eventually."""
    if redis_client is None or not job_ids:
        return 0
    from rq.job import Job
    from rq.results import Result

    deleted = 0
    try:
        for chunk in _chunks(list(job_ids), BATCH_SIZE):
            pipe = redis_client.pipeline(transaction=False)
            for job_id in chunk:
                pipe.delete(Job.key_for(job_id))
                pipe.delete(Result.get_key(job_id), f"{Job.key_for(job_id)}:dependents",
                            f"{Job.key_for(job_id)}:dependencies")
                for queue in QUEUE_NAMES:
                    pipe.lrem(f"rq:queue:{queue}", 0, job_id)
                    for registry in _RQ_REGISTRIES:
                        pipe.zrem(f"rq:{registry}:{queue}", job_id)
            replies = pipe.execute()
            step = 2 + len(QUEUE_NAMES) * (1 + len(_RQ_REGISTRIES))
            deleted += sum(int(r) for r in replies[::step])
    except (redis.RedisError, OSError) as exc:
        logger.warning("retention: RQ cleanup skipped (%s)", exc)
    return deleted


def run_retention(
    settings: Any,
    *,
    redis_url: str | None = None,
    completed_days: float | None = None,
    failed_days: float | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """:func:`purge_old` on the database and Redis of ``settings``; days from
    ``settings.retention`` (``completed_days``, ``failed_days``) when present, else the
    defaults, unless given here. ``redis_url`` overrides ``settings.redis_url``."""
    from agentic_app.engine.redis_conn import connect

    config = getattr(settings, "retention", None)
    schedules = getattr(settings, "schedules", None)
    if completed_days is None:
        completed_days = getattr(config, "completed_days", DEFAULT_COMPLETED_DAYS)
    if failed_days is None:
        failed_days = getattr(config, "failed_days", DEFAULT_FAILED_DAYS)
    client = connect(redis_url or settings.redis_url)
    db = Database(settings.database_url)
    try:
        counts = purge_old(db, client, completed_days=completed_days,
                           failed_days=failed_days, now=now,
                           max_missed_runs=getattr(schedules, "max_missed_runs",
                                                   DEFAULT_MAX_MISSED_RUNS))
    finally:
        client.close()
    counts["alerts"] = purge_alerts(db, failed_days, now=now)
    return counts
