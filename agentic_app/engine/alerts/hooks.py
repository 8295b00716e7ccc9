"""The alerts the engine raises, worded once: each function adds one alert to the caller's
session (its transaction commits it) and returns it for
:func:`~agentic_app.engine.alerts.emit.after_commit`, or None when nothing is due."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from agentic_app.db.models import ScheduledJob, Workflow, WorkflowExecution
from agentic_app.engine.alerts.record import RecordedAlert, record_alert
from agentic_app.settings import Settings


def _schedule_name(sj: ScheduledJob) -> str:
    return f"schedule {sj.name!r}" if sj.name else f"schedule {sj.id}"


def final_failure(s: Session, *, user_id: int, job_id: int, execution_id: int | None,
                  scheduled_job_id: int | None, error: str | None,
                  settings: Settings) -> RecordedAlert:
    """An execution failed after its last retry."""
    execution = s.get(WorkflowExecution, execution_id) if execution_id else None
    workflow = s.get(Workflow, execution.workflow_id) if execution is not None else None
    sj = s.get(ScheduledJob, scheduled_job_id) if scheduled_job_id else None
    what = f"workflow {workflow.name!r}" if workflow is not None else f"job {job_id}"
    where = f" ({_schedule_name(sj)})" if sj is not None else ""
    refs: dict[str, Any] = {"job_id": job_id, "execution_id": execution_id}
    if workflow is not None:
        refs["workflow_id"] = workflow.id
    return record_alert(
        s, user_id=user_id, kind="execution_failed",
        subject=f"Execution {execution_id or job_id} of {what} failed{where}",
        body=f"It failed after its last retry: {error or 'unknown error'}", refs=refs,
        scheduled_job_id=scheduled_job_id, execution_id=execution_id,
        push_after_s=settings.alerts.stale_after_seconds)


def schedule_paused(s: Session, sj: ScheduledJob, settings: Settings) -> RecordedAlert:
    """A schedule was paused after too many consecutive failures."""
    return record_alert(
        s, user_id=sj.user_id, kind="schedule_paused",
        subject=f"Scheduled job {sj.name or sj.id} paused", body=sj.paused_reason or "",
        refs={"scheduled_job_id": sj.id, "workflow_id": sj.workflow_id},
        scheduled_job_id=sj.id, push_after_s=settings.alerts.stale_after_seconds)


def runs_missed(s: Session, sj: ScheduledJob, count: int, reason: str, detail: str,
                settings: Settings, *, kind: str = "runs_missed") -> RecordedAlert | None:
    """``count`` fire times of a schedule did not run (``kind="daily_limit"`` when the
    daily execution cap refused them)."""
    if count <= 0:
        return None
    if kind == "daily_limit":
        subject = f"Daily limit reached: {_schedule_name(sj)} did not run"
    else:
        subject = f"{count} run{'s' if count != 1 else ''} of {_schedule_name(sj)} missed"
    return record_alert(
        s, user_id=sj.user_id, kind=kind, subject=subject,
        body=f"{reason}: {detail}" if detail else reason,
        refs={"scheduled_job_id": sj.id, "workflow_id": sj.workflow_id, "missed": count},
        scheduled_job_id=sj.id, push_after_s=settings.alerts.stale_after_seconds)


def data_stale(s: Session, sj: ScheduledJob, problem: str, settings: Settings) -> RecordedAlert:
    """A market schedule's data is stale or missing: its trigger fires nothing until data is
    back (``config_error`` ``data stale: ...``)."""
    return record_alert(
        s, user_id=sj.user_id, kind="data_stale",
        subject=f"Market data stale for {_schedule_name(sj)}",
        body=f"{problem}; its trigger fires nothing until fresh data arrives",
        refs={"scheduled_job_id": sj.id, "workflow_id": sj.workflow_id},
        scheduled_job_id=sj.id, push_after_s=settings.alerts.stale_after_seconds)


def schedule_invalid(s: Session, sj: ScheduledJob, problem: str,
                     settings: Settings) -> RecordedAlert:
    """The scheduler cannot schedule or evaluate a schedule (its ``config_error``)."""
    return record_alert(
        s, user_id=sj.user_id, kind="schedule_invalid",
        subject=f"Problem with {_schedule_name(sj)}", body=problem,
        refs={"scheduled_job_id": sj.id, "workflow_id": sj.workflow_id},
        scheduled_job_id=sj.id, push_after_s=settings.alerts.stale_after_seconds)
