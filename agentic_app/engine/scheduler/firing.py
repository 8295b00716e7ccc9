"""One fire of a scheduled job: its dedupe key, the overlap policy, the enqueue, the record.

Every fire is enqueued with the key ``job:<id>:<fire time UTC>`` (unique in ``job_queue``), so
even a paused former leader cannot enqueue a duplicate cron/interval fire. Overlap policy per
job: ``skip`` (default; the fire is recorded as skipped when an execution of the job is still
pending or running), ``queue_one`` (enqueue unless one is already waiting) or ``allow``.
A fire outside the trading session its trigger is limited to is recorded as skipped with
reason ``market_closed`` (``domain.triggers.session``). A job asked to skip its next N runs
uses one of them up instead of enqueueing (reason ``skip``); a limit refusing the run is
recorded as ``limit`` (reasons: domain.schedule_health).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.domain.errors import ConflictError, LimitExceededError, NotFoundError
from agentic_app.domain.schedule_health import MARKET_CLOSED
from agentic_app.domain.triggers import ScheduledTriggerConfig, TriggerConfig, next_fire_time
from agentic_app.domain.triggers.session import allows, closed_detail
from agentic_app.engine.queue.enqueue import DuplicateJobError, enqueue_execution
from agentic_app.engine.scheduler import store
from agentic_app.settings import Settings

log = logging.getLogger(__name__)


def fire_key(job_id: int, fire_time: datetime) -> str:
    """Deterministic dedupe key of one fire of one scheduled job."""
    return f"job:{job_id}:{fire_time.astimezone(UTC).isoformat()}"


def wake_and_next(config: TriggerConfig, after: datetime, job_id: int,
                  anchor: datetime) -> tuple[datetime | None, datetime | None]:
    """(when the scheduler wakes next, the next run shown to users) of a time trigger after
    ``after``: the same unless a session limit skips fires, which the scheduler still meets
    so that it records them as ``market_closed``."""
    shown = next_fire_time(config, after, jitter_key=str(job_id), anchor=anchor)
    if getattr(config, "session", None) is None:
        return shown, shown
    return next_fire_time(config, after, jitter_key=str(job_id), anchor=anchor,
                          sessions=False), shown


def enqueue_fire(db: Database, redis: redis_lib.Redis, settings: Settings,
                 row: store.JobSnapshot, config: TriggerConfig, fire_time: datetime,
                 payload: dict) -> int:
    """Enqueue the fire of ``row`` at ``fire_time`` unless it was enqueued already or its
    overlap policy or a limit refuses it (recorded as missed); 1 when enqueued, else 0."""
    job_id = row.id
    key = fire_key(job_id, fire_time)
    if store.fire_enqueued(db, key):
        return 0  # already enqueued (by us before a restart, or by a former leader)
    if not allows(config, fire_time):
        store.record_missed(db, job_id, [fire_time], MARKET_CLOSED, closed_detail(config),
                            keep=settings.schedules.max_missed_runs,
                            alert_kind=None)  # by design: the user limited it to sessions
        return 0
    left = store.take_skip(db, job_id)
    if left is not None:
        store.record_missed(db, job_id, [fire_time], "skip",
                            f"skipped on request ({left} more to skip)",
                            keep=settings.schedules.max_missed_runs, alert_kind=None)
        return 0
    pending, running = store.open_job_count(db, job_id)
    policy = config.overlap_policy
    if (policy == "skip" and pending + running) or (policy == "queue_one" and pending):
        store.record_missed(db, job_id, [fire_time], "overlap",
                            f"previous execution still {'running' if running else 'pending'}"
                            f" (overlap policy {policy})",
                            keep=settings.schedules.max_missed_runs, redis=redis,
                            settings=settings)
        return 0
    body = {"fired_at": fire_time.isoformat(), "scheduled_job_id": job_id,
            "trigger_type": row.trigger_type, **store.jsonable_payload(payload)}
    try:
        enqueue_execution(db=db, redis=redis,
                          workflow_id=row.workflow_id, user_id=row.user_id,
                          trigger_type=row.trigger_type, trigger_payload=body,
                          priority=config.priority, scheduled_job_id=job_id,
                          dedupe_key=key, settings=settings)
    except DuplicateJobError:
        log.info("job %s fire %s already enqueued", job_id, fire_time.isoformat())
        return 0
    except (LimitExceededError, NotFoundError, ConflictError) as exc:
        daily = getattr(exc, "limit", None) == "max_executions_per_day"
        reason = "limit" if isinstance(exc, LimitExceededError) else "refused"
        store.record_missed(db, job_id, [fire_time], reason, exc.message,
                            keep=settings.schedules.max_missed_runs, redis=redis,
                            settings=settings,
                            alert_kind="daily_limit" if daily else "runs_missed")
        log.warning("job %s fire %s refused: %s", job_id, fire_time.isoformat(), exc.message)
        return 0
    nxt = None
    if isinstance(config, ScheduledTriggerConfig):
        nxt = next_fire_time(config, fire_time, jitter_key=str(job_id), anchor=row.created_at)
    store.record_fire(db, job_id, fire_time, nxt)
    return 1
