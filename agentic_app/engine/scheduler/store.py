"""Database side of the scheduler: jobs, fires, missed runs, config errors, trigger states.

Every function takes the process's :class:`~agentic_app.db.engine.Database` handle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from agentic_app.db.engine import Database
from agentic_app.db.models import (
    CONFIG_ERROR_MAX_LENGTH,
    JobQueueEntry,
    JobStatus,
    ScheduledJob,
    utcnow,
)
from agentic_app.db.scheduler_models import MissedRun, TriggerStateRow
from agentic_app.domain.schedule_health import DATA_STALE_PREFIX, reason_kind
from agentic_app.domain.triggers.edge import TriggerState
from agentic_app.engine.alerts import hooks
from agentic_app.engine.alerts.emit import after_commit
from agentic_app.engine.queue.retention import trim_missed_runs
from agentic_app.settings import Settings, get_settings

ACTIVE_JOB_STATUSES = (JobStatus.pending.value, JobStatus.running.value)
"""Statuses of a job_queue row that counts as 'still running' for the overlap policy."""


@dataclass(frozen=True)
class JobSnapshot:
    """What the scheduler needs of a scheduled_jobs row (``trigger_config`` as stored: a
    corrupt row may hold a list or text); ``config_error``: the problem stored on the row."""

    id: int
    workflow_id: int
    user_id: int
    trigger_type: str
    trigger_config: Any
    is_active: bool
    next_run: datetime | None
    created_at: datetime
    updated_at: datetime
    config_error: str | None = None


def _snapshot(row: ScheduledJob) -> JobSnapshot:
    config = row.trigger_config
    return JobSnapshot(row.id, row.workflow_id, row.user_id, row.trigger_type,
                       dict(config) if isinstance(config, dict) else config, row.is_active,
                       row.next_run, row.created_at, row.updated_at, row.config_error)


def load_jobs(db: Database) -> dict[int, JobSnapshot]:
    """Every scheduled job (active or not), by id."""
    with db.session() as s:
        return {row.id: _snapshot(row) for row in s.exec(select(ScheduledJob))}


def load_job(db: Database, job_id: int) -> JobSnapshot | None:
    """One scheduled job, or None when it was deleted."""
    with db.session() as s:
        row = s.get(ScheduledJob, job_id)
        return _snapshot(row) if row else None


def set_config_error(db: Database, job_id: int, error: str | None, *,
                     redis: Any = None, settings: Settings | None = None) -> None:
    """Store (or clear, with None) the problem the scheduler has with a job, shown to users;
    a new problem (not the one already stored) also alerts the owner (``data_stale`` for a
    "data stale: ..." problem, ``schedule_invalid`` otherwise)."""
    text = error[:CONFIG_ERROR_MAX_LENGTH] if error else None
    alert = None
    with db.session() as s:
        row = s.get(ScheduledJob, job_id)
        if row is None:
            return
        if text is not None and text != row.config_error:
            hook = (hooks.data_stale if text.startswith(DATA_STALE_PREFIX)
                    else hooks.schedule_invalid)
            alert = hook(s, row, text, settings or get_settings())
        row.config_error = text
    after_commit(redis, alert)


def open_job_count(db: Database, scheduled_job_id: int) -> tuple[int, int]:
    """(pending, running) job_queue rows of a scheduled job."""
    with db.session() as s:
        rows = s.exec(select(JobQueueEntry.status).where(
            JobQueueEntry.scheduled_job_id == scheduled_job_id,
            col(JobQueueEntry.status).in_(ACTIVE_JOB_STATUSES))).all()
    return rows.count(JobStatus.pending.value), rows.count(JobStatus.running.value)


def fire_enqueued(db: Database, dedupe_key: str) -> bool:
    """True when a fire with this key is already in the queue (its history)."""
    with db.session() as s:
        return s.exec(select(JobQueueEntry.id).where(
            JobQueueEntry.dedupe_key == dedupe_key)).first() is not None


def record_fire(db: Database, job_id: int, fire_time: datetime,
                next_run: datetime | None) -> None:
    """A fire was enqueued: last_run, run_count and next_run follow."""
    with db.session() as s:
        row = s.get(ScheduledJob, job_id)
        if row is None:
            return
        row.last_run = fire_time
        row.run_count += 1
        row.next_run = next_run


def set_next_run(db: Database, job_id: int, next_run: datetime | None) -> None:
    """Store the next fire time shown to users (and used to detect downtime)."""
    with db.session() as s:
        row = s.get(ScheduledJob, job_id)
        if row is not None and row.next_run != next_run:
            row.next_run = next_run


def record_missed(db: Database, job_id: int, fire_times: Iterable[datetime], reason: str,
                  detail: str = "", *, keep: int, redis: Any = None,
                  settings: Settings | None = None,
                  alert_kind: str | None = "runs_missed") -> int:
    """Record fire times that did not run (idempotent per job and fire time), keeping only the
    job's newest ``keep`` records (schedules.max_missed_runs), and alert the owner
    (``alert_kind``; None: no alert, e.g. a skip the user asked for) when any was new;
    returns how many were added."""
    alert = None
    with db.session() as s:
        count = add_missed(s, job_id, fire_times, reason, detail, keep=keep)
        row = s.get(ScheduledJob, job_id) if count and alert_kind else None
        if row is not None:
            alert = hooks.runs_missed(s, row, count, reason, detail, settings or get_settings(),
                                      kind=alert_kind)
    after_commit(redis, alert)
    return count


def add_missed(s: Any, job_id: int, fire_times: Iterable[datetime], reason: str,
               detail: str = "", *, keep: int) -> int:
    """:func:`record_missed` inside the session ``s``, without alert; the job's missed or
    skipped counter (by the reason's kind, ``domain.schedule_health``) grows by the number
    added."""
    newest = sorted(set(fire_times))[-keep:]
    if not newest:
        return 0
    count = 0
    known = set(s.exec(select(MissedRun.fire_time).where(
        MissedRun.scheduled_job_id == job_id,
        col(MissedRun.fire_time).in_(newest))).all())
    for when in newest:
        if when in known:
            continue
        s.add(MissedRun(scheduled_job_id=job_id, fire_time=when, reason=reason,
                        detail=detail[:500]))
        count += 1
    s.flush()
    trim_missed_runs(s.connection(), keep, job_id=job_id)
    if count:
        column = (ScheduledJob.missed_count if reason_kind(reason) == "missed"
                  else ScheduledJob.skipped_count)
        s.execute(sa.update(ScheduledJob).where(ScheduledJob.id == job_id)
                  .values({column: column + count}))
    return count


def take_skip(db: Database, job_id: int) -> int | None:
    """Use up one of the job's "skip next" runs: the number still to skip after this one, or
    None when none was asked for (one atomic UPDATE: two schedulers cannot both use it)."""
    with db.session() as s:
        done = s.execute(sa.update(ScheduledJob).where(
            ScheduledJob.id == job_id, ScheduledJob.skip_next > 0)
            .values(skip_next=ScheduledJob.skip_next - 1)
            .returning(ScheduledJob.skip_next)).first()
    return None if done is None else int(done[0])


def deactivate(db: Database, job_id: int, reason: str) -> None:
    """Pause a job on the scheduler's own account (expired, max fires reached)."""
    with db.session() as s:
        row = s.get(ScheduledJob, job_id)
        if row is not None and row.is_active:
            row.is_active = False
            row.paused_reason = reason
            row.paused_at = row.updated_at = utcnow()


class DatabaseTriggerStateStore:
    """TriggerStateStore on the trigger_states table (states survive restarts)."""

    def __init__(self, db: Database):
        self.db = db

    def load_all(self) -> dict[int, TriggerState]:
        """Every stored state, by trigger (scheduled job) id."""
        with self.db.session() as s:
            rows = s.exec(select(TriggerStateRow)).all()
        return {r.scheduled_job_id: TriggerState.from_dict(r.state) for r in rows}

    def save_many(self, states: Iterable[TriggerState]) -> None:
        """Upsert the given states."""
        states = list(states)
        if not states:
            return
        with self.db.session() as s:
            existing = {r.scheduled_job_id: r for r in s.exec(select(TriggerStateRow).where(
                col(TriggerStateRow.scheduled_job_id).in_([st.trigger_id for st in states])))}
            for st in states:
                row = existing.get(st.trigger_id)
                if row is None:
                    s.add(TriggerStateRow(scheduled_job_id=st.trigger_id, state=st.to_dict()))
                else:
                    row.state = st.to_dict()
                    row.updated_at = utcnow()

    def delete_many(self, trigger_ids: Iterable[int]) -> None:
        """Forget the states of these triggers."""
        ids = [int(i) for i in trigger_ids]
        if not ids:
            return
        with self.db.session() as s:
            for row in s.exec(select(TriggerStateRow).where(
                    col(TriggerStateRow.scheduled_job_id).in_(ids))):
                s.delete(row)


def jsonable_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Payload with datetimes as ISO text."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()}
