"""Pause (with a note and a resume time), resume and skip-next of one schedule, from the jobs
table and from a job's history page: two small dialogs over ``app.schedules``."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx

from agentic_app.domain.errors import AgenticError, InvalidInputError
from agentic_app.domain.schedule_health import MAX_PAUSE_NOTE_LENGTH
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text, parse_id
from agentic_app.state.job_history import JobHistoryState
from agentic_app.state.offloop import off_loop
from agentic_app.state.scheduler import SchedulerState

MAX_INPUT = MAX_PAUSE_NOTE_LENGTH + 1
"""Longest text kept from an input (one past the limit, so the service names the field)."""


def parse_resume_at(text: str) -> datetime | None:
    """The dialog's "resume at (UTC)" (``YYYY-MM-DDTHH:MM`` from a datetime-local input, or
    with a zone) as an aware datetime; None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError("resume at must be a date and time", field="resume_at") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ScheduleControlState(AppState):
    """The pause and skip dialogs (``origin``: the page to reload after an action)."""

    job_id: int = 0
    job_name: str = ""
    origin: str = "jobs"
    pause_open: bool = False
    pause_note: str = ""
    pause_resume_at: str = ""
    skip_open: bool = False
    skip_count: str = "1"
    error: str = ""

    def _reload(self):
        return JobHistoryState.load_history if self.origin == "history" else (
            SchedulerState.load_jobs)

    def _open(self, job_id: str, name: str, origin: str) -> None:
        self.job_id, self.job_name, self.error = parse_id(job_id), name[:200], ""
        self.origin = "history" if origin == "history" else "jobs"

    @rx.event
    def open_pause(self, job_id: str, name: str, origin: str = "jobs"):
        """Open the pause dialog for one of the user's jobs."""
        if not self._resolve():
            return
        self._open(job_id, name, origin)
        self.pause_note, self.pause_resume_at, self.pause_open = "", "", True

    @rx.event
    def set_pause_note(self, value: str):
        """The pause note as typed."""
        self.pause_note = str(value)[:MAX_INPUT]

    @rx.event
    def set_pause_resume_at(self, value: str):
        """The resume time as typed (UTC)."""
        self.pause_resume_at = str(value)[:40]

    @rx.event
    def set_pause_open(self, value: bool):
        """Radix open/close callback."""
        self.pause_open = bool(value)

    @rx.event
    @off_loop
    def confirm_pause(self):
        """Pause the job with the note and resume time; errors stay in the dialog."""
        if not self._resolve() or not self.job_id:
            return
        try:
            job = app().schedules.pause(self._actor(), self.job_id, note=self.pause_note,
                                        resume_at=parse_resume_at(self.pause_resume_at))
        except AgenticError as exc:
            self.error = error_text(exc)
            return
        self.pause_open = False
        yield self._reload()
        yield rx.toast.success(f"{job.name}: paused")

    @rx.event
    @off_loop
    def resume(self, job_id: str, origin: str = "jobs"):
        """Resume one of the user's paused jobs from now."""
        if not self._resolve():
            return
        self.origin = "history" if origin == "history" else "jobs"
        try:
            job = app().schedules.resume(self._actor(), parse_id(job_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        yield self._reload()
        yield rx.toast.success(f"{job.name}: resumed")

    @rx.event
    def open_skip(self, job_id: str, name: str, origin: str = "jobs"):
        """Open the skip-next dialog for one of the user's jobs."""
        if not self._resolve():
            return
        self._open(job_id, name, origin)
        self.skip_count, self.skip_open = "1", True

    @rx.event
    def set_skip_count(self, value: str):
        """How many next runs to skip, as typed."""
        self.skip_count = str(value)[:10]

    @rx.event
    def set_skip_open(self, value: bool):
        """Radix open/close callback."""
        self.skip_open = bool(value)

    @rx.event
    @off_loop
    def confirm_skip(self):
        """Skip the job's next N runs (0 cancels); errors stay in the dialog."""
        if not self._resolve() or not self.job_id:
            return
        try:
            count = int(self.skip_count.strip() or "0")
        except ValueError:
            self.error = "count must be a whole number"
            return
        try:
            job = app().schedules.skip(self._actor(), self.job_id, count)
        except AgenticError as exc:
            self.error = error_text(exc)
            return
        self.skip_open = False
        yield self._reload()
        yield rx.toast.success(f"{job.name}: skipping the next {job.skip_next} run(s)")
