"""Scheduler page state: the jobs table (health badge, counts) and the create/edit dialog with
live previews (any trigger type, also when editing). One job's page: ``job_history``; pause
and skip dialogs: ``schedule_control``."""

from __future__ import annotations

from typing import Any

import reflex as rx

from agentic_app import routes
from agentic_app.domain.errors import AgenticError, ConditionError, InvalidInputError
from agentic_app.domain.templates import TEMPLATES
from agentic_app.services.app import INDICATOR_NAMES
from agentic_app.state.backtest import BacktestState
from agentic_app.state.base import AppState
from agentic_app.state.common import (
    PAGE_SIZE,
    app,
    error_text,
    fmt_time,
    parse_id,
)
from agentic_app.state.offloop import off_loop
from agentic_app.state.paging import PagedMixin
from agentic_app.state.schedule_form import FORM_FIELDS, NO_SESSION, extra_params, fill_extras

TRIGGER_TYPES = [["cron", "Cron"], ["time", "Interval"], ["price", "Price"],
                 ["indicator", "Indicator"], ["webhook", "Webhook"]]
"""Trigger types offered by the dialog: value, label."""
TIMEZONES = ["UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Zurich",
             "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver",
             "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata",
             "Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Tokyo",
             "Australia/Sydney", "Pacific/Auckland"]
"""Timezones offered by the cron form."""
TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"]
INDICATORS = list(INDICATOR_NAMES)


def job_status(job: Any) -> tuple[str, str]:
    """(active | paused | auto-paused, reason) of a job row."""
    if job.is_active:
        return "active", ""
    reason = job.paused_reason or "paused"
    return ("auto-paused" if "user" not in reason else "paused"), reason


def counts_text(counts: dict[str, int]) -> str:
    """'12 runs · 1 failed · 2 missed · 3 skipped'."""
    return (f"{counts['runs']} runs · {counts['failed']} failed · {counts['missed']} missed · "
            f"{counts['skipped']} skipped")


class SchedulerState(PagedMixin, AppState):
    """The user's scheduled jobs and the create/edit dialog."""

    def _reload(self):
        return SchedulerState.load_jobs

    rows: list[dict[str, str]] = []
    loaded: bool = False
    load_error: str = ""
    confirm_delete_id: int = 0
    confirm_delete_name: str = ""

    # dialog
    dialog_open: bool = False
    editing_id: int = 0
    source: str = ""
    source_options: list[list[str]] = []
    trigger_type: str = "cron"
    name: str = ""
    cron_expression: str = "0 9 * * *"
    timezone: str = "UTC"
    dst_ambiguous: str = "default"
    dst_nonexistent: str = "default"
    session_rule: str = NO_SESSION
    session_calendar: str = "XNYS"
    session_offset: str = "0"
    preview_dst: str = ""
    interval_minutes: str = "60"
    symbol: str = "EURUSD"
    symbols: list[str] = []
    condition: str = "price > 1.10"
    indicator: str = "rsi"
    period: str = "14"
    timeframe: str = "15m"
    webhook_mode: str = "hmac"
    priority: str = "normal"
    preview_description: str = ""
    preview_runs: list[str] = []
    preview_error: str = ""
    condition_error: str = ""
    condition_caret: str = ""
    form_error: str = ""
    saving: bool = False
    created_webhook: dict[str, str] = {}

    @rx.var
    def dialog_title(self) -> str:
        """Title of the dialog."""
        return "Edit scheduled job" if self.editing_id else "New scheduled job"

    # ------------------------------------------------------------------ table
    @rx.event
    @off_loop
    def load_jobs(self):
        """Load the current page of the user's jobs (ownership checked by the services)."""
        if not self._resolve():
            return
        try:
            services, actor = app(), self._actor()
            jobs, self.total = services.schedules.list(
                actor, offset=(self.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            names = {wf.id: wf.name for wf in services.workflows.list(actor)}
            last = services.schedules.last_runs(actor, [j.id for j in jobs])
            rows = []
            for job in jobs:
                view = services.schedules.view(job)
                status, reason = job_status(job)
                lr = last.get(job.id, {})
                rows.append({
                    "id": str(job.id), "name": job.name,
                    "workflow": names.get(job.workflow_id, f"#{job.workflow_id}"),
                    "trigger_type": job.trigger_type, "schedule": view["description"],
                    "next_run": fmt_time(job.next_run) if job.is_active else "—",
                    "last_run": fmt_time(job.last_run or lr.get("at")),
                    "last_status": lr.get("status", ""), "run_count": str(job.run_count),
                    "status": status, "reason": reason, "failures": str(job.consecutive_failures),
                    "problem": view.get("config_error") or "",
                    "health": view["health"]["status"],
                    "health_reason": view["health"]["reason"] or view["health"]["status"],
                    "counts": counts_text(view["counts"]), "skip_next": str(job.skip_next),
                })
            self.rows = rows
            self.load_error = ""
        except AgenticError as exc:
            self.load_error = error_text(exc)
        self.loaded = True

    @rx.event
    @off_loop
    def run_now(self, job_id: str):
        """Run one of the user's jobs now and open its live monitor."""
        if not self._resolve():
            return
        try:
            job = app().schedules.run_now(self._actor(), parse_id(job_id), source="ui")
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        return rx.redirect(f"{routes.MONITOR}/{job.execution_id}")

    @rx.event
    def ask_delete(self, job_id: str, name: str):
        """Open the delete confirmation for a job."""
        self.confirm_delete_id, self.confirm_delete_name = parse_id(job_id), name

    @rx.event
    def cancel_delete(self):
        """Close the delete confirmation."""
        self.confirm_delete_id, self.confirm_delete_name = 0, ""

    @rx.event
    @off_loop
    def confirm_delete(self):
        """Delete the job the confirmation is about."""
        if not self._resolve() or not self.confirm_delete_id:
            return
        try:
            app().schedules.delete(self._actor(), self.confirm_delete_id)
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        name = self.confirm_delete_name
        self.confirm_delete_id, self.confirm_delete_name = 0, ""
        yield SchedulerState.load_jobs
        yield rx.toast.success(f"Deleted {name}")

    # ------------------------------------------------------------------ dialog
    def _sources(self) -> list[list[str]]:
        out = [[f"wf:{wf.id}", f"Workflow: {wf.name}"]
               for wf in app().workflows.list(self._actor())]
        out += [[f"tpl:{name}", f"New from template: {name}"] for name in TEMPLATES]
        return out

    def _source_trigger(self, source: str) -> tuple[str | None, dict[str, Any]]:
        """(trigger type, params) of the chosen workflow ("wf:<id>") or template
        ("tpl:<name>")."""
        kind, _, ref = source.partition(":")
        if kind == "tpl":
            return app().triggers.template_trigger(ref)
        return app().triggers.workflow_trigger(self._actor(), int(ref))

    def _fill_from(self, params: dict[str, Any], trigger_type: str) -> None:
        self.trigger_type = trigger_type
        fill_extras(self, params)
        if trigger_type == "cron":
            self.cron_expression = str(params.get("cron_expression", self.cron_expression))
            self.timezone = str(params.get("timezone", "UTC"))
        elif trigger_type == "time":
            self.interval_minutes = str(params.get("interval_minutes", self.interval_minutes))
        elif trigger_type in ("price", "indicator"):
            self.symbol = str(params.get("symbol", self.symbol))
            self.condition = str(params.get("condition", self.condition))
            if trigger_type == "indicator":
                self.indicator = str(params.get("indicator", "rsi"))
                self.timeframe = str(params.get("timeframe", "15m"))
                period = (params.get("params") or {}).get("period")
                self.period = str(int(period)) if period else ""
        elif trigger_type == "webhook":
            self.webhook_mode = str(params.get("mode", "hmac"))
        prio = params.get("priority", 0)
        self.priority = {5: "high", -5: "low"}.get(prio, prio if isinstance(prio, str)
                                                   else "normal")

    def _reset_form(self) -> None:
        self.form_error = self.preview_error = self.condition_error = ""
        self.condition_caret = ""
        self.preview_runs = []
        self.created_webhook = {}
        self.saving = False

    @rx.event
    @off_loop
    def open_create(self):
        """Open the dialog to schedule a workflow (or a new one from a template)."""
        if not self._resolve():
            return
        self._reset_form()
        self.editing_id = 0
        self.source_options = self._sources()
        self.symbols = app().triggers.symbols()
        self.dialog_open = True
        return SchedulerState.set_source(self.source_options[0][0])

    @rx.event
    @off_loop
    def open_edit(self, job_id: str):
        """Open the dialog on one of the user's jobs."""
        if not self._resolve():
            return
        try:
            job = app().schedules.get(self._actor(), parse_id(job_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self._reset_form()
        self.editing_id = job.id
        self.source_options = [[f"wf:{job.workflow_id}", f"Workflow #{job.workflow_id}"]]
        self.source = self.source_options[0][0]
        self.symbols = app().triggers.symbols()
        self.name = job.name
        self._fill_from(dict(job.trigger_config), job.trigger_type)
        self.dialog_open = True
        return SchedulerState.refresh_preview

    @rx.event
    def close_dialog(self):
        """Close the dialog without saving."""
        self.dialog_open = False

    @rx.event
    def set_dialog_open(self, value: bool):
        """Radix open/close callback."""
        self.dialog_open = value

    @rx.event
    @off_loop
    def set_source(self, value: str):
        """Pick the workflow or template; the form takes its trigger node's settings."""
        self.source = value
        try:
            trigger_type, params = self._source_trigger(value)
        except (AgenticError, KeyError, ValueError) as exc:
            self.form_error = str(getattr(exc, "message", exc))
            return
        label = dict((k, v) for k, v in self.source_options).get(value, value)
        self.name = label.split(": ", 1)[-1]
        if trigger_type is not None:
            self._fill_from(params, trigger_type)
        return SchedulerState.refresh_preview

    @rx.event
    def set_trigger_type(self, value: str | list[str]):
        """Switch the form to another trigger type."""
        value = value if isinstance(value, str) else value[0]
        self.trigger_type = value
        if value == "price" and not self.condition.lower().startswith("price"):
            self.condition = "price > 1.10"
        if value == "indicator" and "price" in self.condition.lower():
            self.condition = "rsi < 30"
        return SchedulerState.refresh_preview

    @rx.event
    def set_field(self, field: str, value: str):
        """Change one form field and refresh the previews."""
        if field in ("name", "cron_expression", "timezone", *FORM_FIELDS,
                     "interval_minutes", "symbol",
                     "condition", "indicator", "period", "timeframe", "webhook_mode",
                     "priority"):
            setattr(self, field, value)
        if field != "name":
            return SchedulerState.refresh_preview

    def _params(self) -> dict[str, Any]:
        t = self.trigger_type
        out: dict[str, Any] = {}
        if t == "cron":
            out = {"cron_expression": self.cron_expression.strip(), "timezone": self.timezone}
        elif t == "time":
            try:
                out = {"interval_minutes": int(self.interval_minutes)}
            except ValueError:
                raise InvalidInputError("interval must be a whole number of minutes",
                                        field="interval_minutes") from None
        elif t == "price":
            out = {"symbol": self.symbol, "condition": self.condition.strip()}
        elif t == "indicator":
            out = {"symbol": self.symbol, "condition": self.condition.strip(),
                   "indicator": self.indicator, "timeframe": self.timeframe}
            if self.period.strip():
                try:
                    out["params"] = {"period": int(self.period)}
                except ValueError:
                    raise InvalidInputError("period must be a whole number",
                                            field="period") from None
        elif t == "webhook":
            out = {"mode": self.webhook_mode}
        out["priority"] = self.priority  # always sent: an edit merges over the stored config
        return {**out, **extra_params(self, t)}

    @rx.event
    @off_loop
    def refresh_preview(self):
        """Live description and next fire times (cron, interval), positioned condition errors
        and the backtest of a price or indicator trigger (``BacktestState``)."""
        self.preview_error = self.condition_error = self.condition_caret = ""
        self.preview_runs, self.preview_description, self.preview_dst = [], "", ""
        t = self.trigger_type
        try:
            params = self._params()
        except InvalidInputError as exc:
            self.preview_error = error_text(exc)
            return
        if t in ("price", "indicator"):
            try:
                app().triggers.check_condition(t, params["condition"], self.indicator)
            except InvalidInputError as exc:
                self._condition_problem(exc)
                return BacktestState.clear
        try:
            preview = app().schedules.preview(trigger_type=t, trigger_config=params)
            self.preview_description = preview["description"]
            self.preview_dst = preview.get("dst_note") or ""
            self.preview_runs = [fmt_time(r, self.timezone if t == "cron" else "UTC")
                                 for r in preview["next_runs"]]
        except InvalidInputError as exc:
            if t in ("price", "indicator") and exc.position is not None:
                self._condition_problem(exc)
            else:
                self.preview_error = error_text(exc)
            return BacktestState.clear
        if t in ("price", "indicator"):  # the backtest runs off the event loop
            return BacktestState.run(t, params)

    def _condition_problem(self, exc: InvalidInputError) -> None:
        self.condition_error = error_text(exc)
        position = exc.position if isinstance(exc.position, int) else None
        if position is not None:
            self.condition_caret = " " * position + "^"

    @rx.event
    @off_loop
    def save(self):
        """Create or update the job (any trigger type, also when editing); the workflow is
        never changed (its trigger node only gave the form's defaults)."""
        if not self._resolve():
            return
        self.form_error = ""
        triggers, actor = app().triggers, self._actor()
        try:
            form = self._params()
            if self.editing_id:
                job = triggers.reschedule(actor, self.editing_id, form=form, name=self.name,
                                          trigger_type=self.trigger_type)
            else:
                kind, _, ref = self.source.partition(":")
                job = triggers.schedule(
                    actor, trigger_type=self.trigger_type, form=form, name=self.name,
                    template=ref if kind == "tpl" else None,
                    workflow_id=int(ref) if kind == "wf" else None)
        except InvalidInputError as exc:
            if self.trigger_type in ("price", "indicator") and (
                    isinstance(exc, ConditionError) or exc.position is not None):
                self._condition_problem(exc)
            self.form_error = error_text(exc)
            return
        except (AgenticError, KeyError, ValueError) as exc:
            self.form_error = str(getattr(exc, "message", exc))
            return
        if job.trigger_type == "webhook" and not self.editing_id:
            self.created_webhook = triggers.webhook(job, secret=job.webhook_secret)
        else:
            self.dialog_open = False
        yield SchedulerState.load_jobs
        yield rx.toast.success(f"Saved {job.name}")
