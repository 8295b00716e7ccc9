"""Steering a schedule by hand: pause (with a note and an optional resume time), resume, skip
the next N runs, and run now. Part of ``app.schedules`` (:class:`ScheduleService`); the
pause/resume row changes themselves are ``engine.scheduler.pauses`` (shared with the
scheduler, which resumes a pause at its resume time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agentic_app.db.models import JobQueueEntry, ScheduledJob, utcnow
from agentic_app.domain.errors import ConflictError, InvalidInputError
from agentic_app.domain.schedule_health import MAX_PAUSE_NOTE_LENGTH, MAX_SKIP_NEXT
from agentic_app.domain.triggers import parse_trigger_config
from agentic_app.engine.scheduler.pauses import pause_job, resume_job
from agentic_app.services.base import Actor

MAX_PAUSE_DAYS = 366
"""Furthest a pause's resume time may lie ahead."""


def check_resume_at(resume_at: datetime | None, now: datetime) -> datetime | None:
    """``resume_at`` as UTC if it lies in (now, now + MAX_PAUSE_DAYS]; InvalidInputError
    naming ``resume_at`` otherwise."""
    if resume_at is None:
        return None
    if resume_at.tzinfo is None or resume_at.utcoffset() is None:
        raise InvalidInputError("resume_at must name its timezone (e.g. 2026-12-24T09:00Z)",
                                field="resume_at")
    if resume_at <= now:
        raise InvalidInputError("resume_at must be in the future", field="resume_at")
    if resume_at > now + timedelta(days=MAX_PAUSE_DAYS):
        raise InvalidInputError(f"resume_at must be within {MAX_PAUSE_DAYS} days",
                                field="resume_at")
    return resume_at.astimezone(now.tzinfo)


class ScheduleControl:
    """Pause, resume, skip and run-now of the user's schedules (mixed into the service)."""

    def pause(self, actor: Actor, job_id: int, *, note: str | None = None,
              resume_at: datetime | None = None) -> ScheduledJob:
        """Pause a job with an optional note and time to resume (the active scheduler resumes
        it then). Pausing a paused job updates its note and resume time."""
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_PAUSE_NOTE_LENGTH:
            raise InvalidInputError(f"note must be at most {MAX_PAUSE_NOTE_LENGTH} characters",
                                    field="note")
        now = utcnow()
        resume_at = check_resume_at(resume_at, now)
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            paused_at = job.paused_at if not job.is_active else None
            pause_job(job, now, note=note, resume_at=resume_at)
            job.paused_at = paused_at or now
            job.next_run = None
            s.flush()
            s.refresh(job)
            return job

    def resume(self, actor: Actor, job_id: int) -> ScheduledJob:
        """Resume a paused job from now (no catch-up; the pause's fire times are recorded as
        skipped). Resuming an active job changes nothing."""
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            if not job.is_active:
                resume_job(s, job, utcnow(), keep=self.settings.schedules.max_missed_runs,
                           default_timezone=self.settings.scheduler_config.timezone)
            s.flush()
            s.refresh(job)
            return job

    def toggle(self, actor: Actor, job_id: int) -> ScheduledJob:
        """Pause an active job (no note), or resume a paused one."""
        job = self.get(actor, job_id)
        return self.resume(actor, job_id) if not job.is_active else self.pause(actor, job_id)

    def skip(self, actor: Actor, job_id: int, count: int) -> ScheduledJob:
        """Skip the job's next ``count`` runs (0..MAX_SKIP_NEXT; 0 cancels a skip): each is
        recorded as skipped (reason ``skip``) instead of running. 409 for webhook jobs."""
        if isinstance(count, bool) or not isinstance(count, int) or not (
                0 <= count <= MAX_SKIP_NEXT):
            raise InvalidInputError(f"count must be 0..{MAX_SKIP_NEXT}", field="count")
        with self.db.session() as s:
            job = self.owned(s, actor, job_id)
            if job.trigger_type == "webhook":
                raise ConflictError("a webhook job runs when it is called: pause it instead "
                                    "of skipping runs", field="id")
            job.skip_next = count
            job.updated_at = utcnow()
            s.flush()
            s.refresh(job)
            return job

    def run_now(self, actor: Actor, job_id: int, *, source: str = "api") -> JobQueueEntry:
        """Run a scheduled job's workflow now, at the job's priority and counted in its
        history (trigger type ``manual``) and against the user's limits like any run; the
        queue row's ``execution_id`` is what to watch. Errors as
        :meth:`WorkflowService.run_now`."""
        job = self.get(actor, job_id)
        config = parse_trigger_config(job.trigger_type, job.trigger_config)
        return self._app.workflows.run_now(
            actor, job.workflow_id, priority=config.priority,
            scheduled_job_id=job.id,
            trigger_payload={"source": source, "scheduled_job_id": job.id})
