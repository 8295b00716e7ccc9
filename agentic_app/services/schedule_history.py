"""What became of a schedule's fire times: its history (executions, missed and skipped fire
times inline, with reasons), its health badge and outcome counts. Part of ``app.schedules``;
the reasons and the health rules are ``domain.schedule_health`` (one place for every caller).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from agentic_app.db.models import JobQueueEntry, ScheduledJob, WorkflowExecution
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.domain.schedule_health import REASONS, reason_kind, schedule_health
from agentic_app.services.base import Actor

MAX_MISSED_LISTED = 100
"""Most missed/skipped records ``history`` lists in ``missed``."""


def outcome_view(job: ScheduledJob, *, config_error: str | None,
                 data_stale: str | None = None) -> dict[str, Any]:
    """``health`` ({status, reason}) and ``counts`` ({runs, failed, missed, skipped}) of a job
    (``data_stale``: why its market data is stale, when the caller knows)."""
    health = schedule_health(is_active=job.is_active, paused_reason=job.paused_reason,
                             config_error=config_error,
                             consecutive_failures=job.consecutive_failures,
                             pause_note=job.pause_note, data_stale=data_stale)
    return {"health": {"status": health.status, "reason": health.reason},
            "counts": {"runs": job.run_count, "failed": job.failed_count,
                       "missed": job.missed_count, "skipped": job.skipped_count}}


def _run_entry(q: JobQueueEntry, ex: WorkflowExecution) -> dict[str, Any]:
    duration = None
    if ex.started_at and ex.finished_at:
        duration = (ex.finished_at - ex.started_at) / timedelta(milliseconds=1)
    return {"job_id": q.id, "execution_id": ex.id, "status": q.status,
            "retry_count": q.retry_count, "created_at": q.created_at,
            "started_at": ex.started_at, "finished_at": ex.finished_at,
            "duration_ms": duration, "error": q.error_message,
            "trigger_payload": ex.trigger_payload, "alert_only": ex.alert_only}


def timeline(runs: list[dict[str, Any]], missed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Executions and missed/skipped fire times in one list, newest first: each entry has
    ``at``, ``kind`` (run, failed, missed, skipped), ``status``, ``reason``, ``detail``,
    ``execution_id``, ``duration_ms`` (None for fire times that did not run) and
    ``alert_only`` (an alert-only run: nothing was traded)."""
    out = [{"at": r["created_at"], "kind": "failed" if r["status"] == "failed" else "run",
            "status": r["status"], "reason": "", "detail": r["error"] or "",
            "execution_id": r["execution_id"], "duration_ms": r["duration_ms"],
            "alert_only": bool(r.get("alert_only"))} for r in runs]
    out += [{"at": m["fire_time"], "kind": reason_kind(m["reason"]), "status": m["reason"],
             "reason": m["reason"],
             "detail": m["detail"] or REASONS.get(m["reason"], ("", ""))[1],
             "execution_id": None, "duration_ms": None, "alert_only": False} for m in missed]
    return sorted(out, key=lambda e: e["at"], reverse=True)


class ScheduleHistory:
    """History and last runs of the user's schedules (mixed into the service)."""

    def history(self, actor: Actor, job_id: int, *, offset: int = 0, limit: int = 50) -> dict:
        """A job's executions (status, times, duration, payload; newest first, paginated),
        its newest missed/skipped fire times (``missed``), and ``timeline``: this page's
        executions with the missed/skipped fire times that fall between them (pages share
        them out without gaps or repeats), newest first, each with its reason."""
        with self.db.session() as s:
            self.owned(s, actor, job_id)
            runs_q = (select(JobQueueEntry, WorkflowExecution)
                      .join(WorkflowExecution,
                            WorkflowExecution.id == JobQueueEntry.execution_id)
                      .where(JobQueueEntry.scheduled_job_id == job_id)
                      .order_by(col(JobQueueEntry.id).desc()))
            total = int(s.exec(select(func.count()).select_from(
                select(JobQueueEntry.id).where(JobQueueEntry.scheduled_job_id == job_id)
                .subquery())).one())
            start = max(0, offset - 1)
            rows = list(s.exec(runs_q.offset(start).limit(limit + (offset - start))))
            newer = rows.pop(0)[0].created_at if offset > start and rows else None
            runs = [_run_entry(q, ex) for q, ex in rows]
            missed = s.exec(select(MissedRun).where(MissedRun.scheduled_job_id == job_id)
                            .order_by(col(MissedRun.fire_time).desc())
                            .limit(MAX_MISSED_LISTED)).all()
            between = select(MissedRun).where(MissedRun.scheduled_job_id == job_id)
            if newer is not None:
                between = between.where(col(MissedRun.fire_time) < newer)
            if runs and offset + limit < total:
                between = between.where(col(MissedRun.fire_time) >= runs[-1]["created_at"])
            inline = [m.model_dump() for m in s.exec(between.order_by(
                col(MissedRun.fire_time).desc()).limit(MAX_MISSED_LISTED))]
            if offset >= total and total:  # past the last page: nothing inline
                inline = []
            return {"total": total, "runs": runs, "missed": [m.model_dump() for m in missed],
                    "timeline": timeline(runs, inline)}

    def last_runs(self, actor: Actor, job_ids: list[int]) -> dict[int, dict]:
        """Newest queue row per scheduled job of the user: {job_id: {status, at, job}}."""
        out: dict[int, dict] = {}
        if not job_ids:
            return out
        with self.db.session() as s:
            rows = s.exec(select(JobQueueEntry).where(
                JobQueueEntry.user_id == actor.id,
                col(JobQueueEntry.scheduled_job_id).in_(job_ids)).order_by(
                col(JobQueueEntry.id).desc())).all()
        for row in rows:
            out.setdefault(row.scheduled_job_id, {"status": row.status, "at": row.created_at,
                                                  "job": row.id})
        return out
