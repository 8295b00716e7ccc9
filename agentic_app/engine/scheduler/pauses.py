"""Pausing and resuming a scheduled job: the one place a job stops and starts again, whether
its user asks (through the schedule service) or its resume time comes (the active scheduler).

A pause keeps who paused it (``paused_reason``), the user's note and an optional resume time.
A resume starts from now (no catch-up): every cron/interval fire time that fell during the
pause is recorded as skipped with reason ``paused``, so the history shows the gap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from agentic_app.db.engine import Database
from agentic_app.db.models import ScheduledJob
from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.schedule_health import USER_PAUSE_REASON
from agentic_app.domain.triggers import (
    ScheduledTriggerConfig,
    next_fire_time,
    next_fire_times,
    parse_trigger_config,
)
from agentic_app.engine.scheduler.store import add_missed

MAX_PAUSED_FIRES_SCANNED = 1000
"""At most this many fire times of one pause are looked at when it ends."""


def pause_job(row: ScheduledJob, now: datetime, *, note: str | None = None,
              resume_at: datetime | None = None) -> None:
    """Pause ``row`` on its user's account, with an optional note and resume time."""
    row.is_active = False
    row.paused_reason = USER_PAUSE_REASON
    row.pause_note = note or None
    row.paused_at = now
    row.resume_at = resume_at
    row.updated_at = now


def _config(row: ScheduledJob, default_timezone: str):
    try:
        return parse_trigger_config(row.trigger_type, row.trigger_config,
                                    default_timezone=default_timezone)
    except InvalidInputError:
        return None  # a corrupt row resumes too; the scheduler reports its problem


def _paused_fires(row: ScheduledJob, config: Any, now: datetime) -> list[datetime]:
    """Fire times of a time trigger in (paused_at, now]."""
    if row.paused_at is None or not isinstance(config, ScheduledTriggerConfig):
        return []
    out: list[datetime] = []
    after = row.paused_at
    while len(out) < MAX_PAUSED_FIRES_SCANNED:
        batch = [t for t in next_fire_times(config, after, 100, jitter_key=str(row.id),
                                            anchor=row.created_at) if t <= now]
        out.extend(batch)
        if len(batch) < 100:
            break
        after = batch[-1]
    return out


def resume_job(s: Any, row: ScheduledJob, now: datetime, *, keep: int,
               default_timezone: str = "UTC", by: str = "user") -> None:
    """Resume ``row`` (in session ``s``) from ``now``: next run from now, failures reset, the
    fire times of the pause recorded as skipped (``keep``: schedules.max_missed_runs)."""
    config = _config(row, default_timezone)
    skipped = _paused_fires(row, config, now)
    row.is_active = True
    row.paused_reason = row.pause_note = None
    row.paused_at = row.resume_at = None
    row.consecutive_failures = 0
    row.next_run = None
    if isinstance(config, ScheduledTriggerConfig):
        row.next_run = next_fire_time(config, now, jitter_key=str(row.id), anchor=row.created_at)
    row.updated_at = now
    s.flush()
    if skipped:
        add_missed(s, row.id, skipped, "paused", f"the schedule was paused (resumed by {by})",
                   keep=keep)


def resume_due(db: Database, now: datetime, *, keep: int,
               default_timezone: str = "UTC") -> list[int]:
    """Resume every paused job whose resume time has come; their ids. The active scheduler
    calls this at every sync, so exactly one process resumes a job."""
    with db.session() as s:
        rows = s.exec(select(ScheduledJob).where(
            col(ScheduledJob.is_active).is_(False),
            col(ScheduledJob.resume_at).is_not(None),
            col(ScheduledJob.resume_at) <= now)).all()
        for row in rows:
            resume_job(s, row, now, keep=keep, default_timezone=default_timezone,
                       by="its resume time")
        return [row.id for row in rows]

