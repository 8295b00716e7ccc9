"""One job's page (``/scheduler/[job_id]``): its details, health badge and counts, and its
history - executions with the missed, skipped and failed runs inline, with reasons."""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.domain.errors import AgenticError
from agentic_app.state.base import AppState
from agentic_app.state.common import (
    PAGE_SIZE,
    app,
    error_text,
    fmt_ms,
    fmt_time,
    last_path_int,
)
from agentic_app.state.offloop import off_loop
from agentic_app.state.paging import PagedMixin
from agentic_app.state.scheduler import SchedulerState, counts_text, job_status


class JobHistoryState(PagedMixin, AppState):
    """One job's details and history (``/scheduler/[job_id]``)."""

    def _reload(self):
        return JobHistoryState.load_history

    job: dict[str, str] = {}
    timeline: list[dict[str, str]] = []
    error: str = ""
    loaded: bool = False
    webhook: dict[str, str] = {}

    def _job_id(self) -> int:
        return last_path_int(self)

    @rx.event
    @off_loop
    def load_history(self):
        """Load the job (health, counts, pause and skip) and a page of its history: runs with
        the missed, skipped and failed ones inline (owner only)."""
        if not self._resolve():
            return
        services, actor = app(), self._actor()
        job_id = self._job_id()
        try:
            job = services.schedules.get(actor, job_id)
            view = services.schedules.view(job)
            history = services.schedules.history(actor, job_id,
                                                 offset=(self.page - 1) * PAGE_SIZE,
                                                 limit=PAGE_SIZE)
        except AgenticError as exc:
            self.error, self.loaded, self.job = error_text(exc), True, {}
            return
        status, reason = job_status(job)
        self.job = {"id": str(job.id), "name": job.name, "trigger_type": job.trigger_type,
                    "schedule": view["description"], "status": status, "reason": reason,
                    "run_count": str(job.run_count), "problem": view.get("config_error") or "",
                    "next_runs": ", ".join(fmt_time(r) for r in view["next_runs"][:3]) or "—",
                    "health": view["health"]["status"], "health_reason": view["health"]["reason"],
                    "counts": counts_text(view["counts"]), "skip_next": str(job.skip_next),
                    "pause_note": job.pause_note or "", "resume_at": (
                        fmt_time(job.resume_at) if job.resume_at else ""),
                    "active": "yes" if job.is_active else "",
                    "alert_only": "alert-only" if job.alert_only else ""}
        self.total = history["total"]  # pages are pages of executions
        self.timeline = [{
            "at": fmt_time(e["at"], seconds=True), "kind": e["kind"], "status": e["status"],
            "detail": e["detail"] or "", "duration": fmt_ms(e["duration_ms"]),
            "execution_id": str(e["execution_id"] or ""),
            "alert_only": "alert-only" if e["alert_only"] else ""} for e in history["timeline"]]
        self.total = self.total or len(self.timeline)  # only fire times that did not run
        self.webhook = services.triggers.webhook(job)
        self.error, self.loaded = "", True

    @rx.event
    @off_loop
    def rotate_secret(self):
        """Give the webhook a new secret and show it (and the examples with it) this once."""
        if not self._resolve():
            return
        services = app()
        try:
            job, secret = services.schedules.rotate_webhook_secret(self._actor(), self._job_id())
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.webhook = services.triggers.webhook(job, secret=secret)
        return rx.toast.success("New secret: copy it now, it is not shown again")

    @rx.event
    def back(self):
        """Back to the jobs table."""
        return rx.redirect(routes.SCHEDULER)

    @rx.event
    def run_now(self):
        """Run this job now and open its live monitor."""
        return SchedulerState.run_now(str(self._job_id()))
