"""Scheduler page state: the jobs table, the create/edit dialog with live previews, and the
per-job history page."""

from __future__ import annotations

from typing import Any

import reflex as rx

from agentic_app import routes
from agentic_app.domain.errors import AgenticError, ConditionError, InvalidInputError
from agentic_app.domain.templates import TEMPLATES, get_template
from agentic_app.market import indicators
from agentic_app.services import dashboard
from agentic_app.services import schedules as schedule_service
from agentic_app.services import workflows as workflow_service
from agentic_app.state.base import AppState
from agentic_app.state.common import (
    PAGE_SIZE,
    error_text,
    fmt_ms,
    fmt_time,
    last_path_int,
    settings,
)
from agentic_app.state.paging import PagedMixin

TRIGGER_TYPES = [["cron", "Cron"], ["time", "Interval"], ["price", "Price"],
                 ["indicator", "Indicator"], ["webhook", "Webhook"]]
"""Trigger types offered by the dialog: value, label."""
TYPE_FOR_NODE = {v: k for k, v in schedule_service.NODE_FOR_TRIGGER.items()}
TIMEZONES = ["UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Zurich",
             "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver",
             "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata",
             "Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Tokyo",
             "Australia/Sydney", "Pacific/Auckland"]
"""Timezones offered by the cron form."""
TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"]
INDICATORS = sorted(indicators.INDICATORS)


def _status(job: Any) -> tuple[str, str]:
    if job.is_active:
        return "active", ""
    reason = job.paused_reason or "paused"
    return ("auto-paused" if "user" not in reason else "paused"), reason


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
    chart_points: list[dict[str, Any]] = []
    chart_fires: int = 0
    chart_error: str = ""
    form_error: str = ""
    saving: bool = False
    created_webhook: dict[str, str] = {}

    @rx.var
    def dialog_title(self) -> str:
        """Title of the dialog."""
        return "Edit scheduled job" if self.editing_id else "New scheduled job"

    # ------------------------------------------------------------------ table
    @rx.event
    def load_jobs(self):
        """Load the current page of the user's jobs (ownership checked by the services)."""
        if not self._resolve():
            return
        try:
            s = settings()
            jobs, self.total = schedule_service.list_schedules(
                s, user_id=self.user_id, offset=(self.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            names = {wf.id: wf.name
                     for wf in workflow_service.list_workflows(user_id=self.user_id)}
            last = dashboard.last_runs(s.database_url, user_id=self.user_id,
                                       job_ids=[j.id for j in jobs])
            rows = []
            for job in jobs:
                view = schedule_service.schedule_view(job)
                status, reason = _status(job)
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
                })
            self.rows = rows
            self.load_error = ""
        except AgenticError as exc:
            self.load_error = error_text(exc)
        self.loaded = True

    @rx.event
    def toggle(self, job_id: str):
        """Pause or resume one of the user's jobs."""
        if not self._resolve():
            return
        try:
            job = schedule_service.toggle_schedule(settings(), user_id=self.user_id,
                                                   job_id=int(job_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        yield SchedulerState.load_jobs
        yield rx.toast.success(f"{job.name}: {'resumed' if job.is_active else 'paused'}")

    @rx.event
    def ask_delete(self, job_id: str, name: str):
        """Open the delete confirmation for a job."""
        self.confirm_delete_id, self.confirm_delete_name = int(job_id), name

    @rx.event
    def cancel_delete(self):
        """Close the delete confirmation."""
        self.confirm_delete_id, self.confirm_delete_name = 0, ""

    @rx.event
    def confirm_delete(self):
        """Delete the job the confirmation is about."""
        if not self._resolve() or not self.confirm_delete_id:
            return
        try:
            schedule_service.delete_schedule(settings(), user_id=self.user_id,
                                             job_id=self.confirm_delete_id)
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        name = self.confirm_delete_name
        self.confirm_delete_id, self.confirm_delete_name = 0, ""
        yield SchedulerState.load_jobs
        yield rx.toast.success(f"Deleted {name}")

    # ------------------------------------------------------------------ dialog
    def _sources(self) -> list[list[str]]:
        out = [[f"wf:{wf.id}", f"Workflow: {wf.name}"]
               for wf in workflow_service.list_workflows(user_id=self.user_id)]
        out += [[f"tpl:{name}", f"New from template: {name}"] for name in TEMPLATES]
        return out

    def _definition(self, source: str) -> dict:
        kind, _, ref = source.partition(":")
        if kind == "tpl":
            return get_template(ref)["definition"]
        wf = workflow_service.get_workflow(user_id=self.user_id, workflow_id=int(ref))
        return wf.definition

    def _fill_from(self, params: dict[str, Any], trigger_type: str) -> None:
        self.trigger_type = trigger_type
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
        self.condition_caret = self.chart_error = ""
        self.preview_runs, self.chart_points, self.chart_fires = [], [], 0
        self.created_webhook = {}
        self.saving = False

    @rx.event
    def open_create(self):
        """Open the dialog to schedule a workflow (or a new one from a template)."""
        if not self._resolve():
            return
        self._reset_form()
        self.editing_id = 0
        self.source_options = self._sources()
        self.symbols = dashboard.feed_symbols(settings())
        self.dialog_open = True
        return SchedulerState.set_source(self.source_options[0][0])

    @rx.event
    def open_edit(self, job_id: str):
        """Open the dialog on one of the user's jobs."""
        if not self._resolve():
            return
        try:
            job = schedule_service.get_schedule(settings(), user_id=self.user_id,
                                                job_id=int(job_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self._reset_form()
        self.editing_id = job.id
        self.source_options = [[f"wf:{job.workflow_id}", f"Workflow #{job.workflow_id}"]]
        self.source = self.source_options[0][0]
        self.symbols = dashboard.feed_symbols(settings())
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
    def set_source(self, value: str):
        """Pick the workflow or template; the form takes its trigger node's settings."""
        self.source = value
        try:
            definition = self._definition(value)
        except (AgenticError, KeyError, ValueError) as exc:
            self.form_error = str(exc)
            return
        node_type = dashboard.trigger_node_type(definition)
        label = dict((k, v) for k, v in self.source_options).get(value, value)
        self.name = label.split(": ", 1)[-1]
        if node_type in TYPE_FOR_NODE:
            self._fill_from(dashboard.trigger_params(definition), TYPE_FOR_NODE[node_type])
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
        if field in ("name", "cron_expression", "timezone", "interval_minutes", "symbol",
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
        if self.priority != "normal":
            out["priority"] = self.priority
        return out

    @rx.event
    def refresh_preview(self):
        """Live description and next fire times (cron, interval), positioned condition errors
        and the where-it-would-have-fired chart (price, indicator)."""
        self.preview_error = self.condition_error = self.condition_caret = ""
        self.chart_error = ""
        self.preview_runs, self.preview_description = [], ""
        t = self.trigger_type
        try:
            params = self._params()
        except InvalidInputError as exc:
            self.preview_error = error_text(exc)
            return
        if t in ("price", "indicator"):
            try:
                dashboard.check_condition(t, params["condition"], self.indicator)
            except InvalidInputError as exc:
                self._condition_problem(exc)
                self.chart_points, self.chart_fires = [], 0
                return
        try:
            preview = schedule_service.preview(settings(), trigger_type=t,
                                               trigger_config=params)
            self.preview_description = preview["description"]
            self.preview_runs = [fmt_time(r, self.timezone if t == "cron" else "UTC")
                                 for r in preview["next_runs"]]
        except InvalidInputError as exc:
            if t in ("price", "indicator") and exc.position is not None:
                self._condition_problem(exc)
            else:
                self.preview_error = error_text(exc)
            return
        if t in ("price", "indicator"):
            try:
                chart = dashboard.condition_chart(settings(), trigger_type=t, config=params)
                self.chart_points, self.chart_fires = chart["points"], chart["fires"]
            except AgenticError as exc:
                self.chart_error = error_text(exc)
                self.chart_points, self.chart_fires = [], 0

    def _condition_problem(self, exc: InvalidInputError) -> None:
        self.condition_error = error_text(exc)
        position = exc.position if isinstance(exc.position, int) else None
        if position is not None:
            self.condition_caret = " " * position + "^"

    @rx.event
    def save(self):
        """Create or update the job; the trigger is written into the workflow's trigger node
        (the node is the source of truth for what the schedule does)."""
        if not self._resolve():
            return
        self.form_error = ""
        s = settings()
        try:
            params = self._params()
            if self.trigger_type in ("price", "indicator"):
                dashboard.check_condition(self.trigger_type, params["condition"],
                                          self.indicator)
            if self.editing_id:
                job = self._save_edit(s, params)
            else:
                job = self._save_new(s, params)
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
            url = dashboard.webhook_url(s, job.webhook_token or "")
            self.created_webhook = {"url": url, "secret": job.webhook_secret or "",
                                    **dashboard.webhook_examples(url, job.webhook_secret or "",
                                                                 self.webhook_mode)}
        else:
            self.dialog_open = False
        yield SchedulerState.load_jobs
        yield rx.toast.success(f"Saved {job.name}")

    def _save_new(self, s, params: dict[str, Any]):
        kind, _, ref = self.source.partition(":")
        trigger_params = {k: v for k, v in params.items() if k != "priority"}
        extra = {"priority": params["priority"]} if "priority" in params else None
        if kind == "tpl":
            tpl = get_template(ref)
            definition = dashboard.with_trigger(tpl["definition"], self.trigger_type,
                                                trigger_params)
            schedule_service.resolve_config(s, definition=definition,
                                            trigger_type=self.trigger_type,
                                            trigger_config=extra)
            taken = {w.name for w in workflow_service.list_workflows(user_id=self.user_id)}
            wf = workflow_service.create_workflow(
                user_id=self.user_id, name=unique_name((self.name or tpl["name"]).strip(), taken),
                definition=definition, description=tpl["description"])
        else:
            wf = workflow_service.get_workflow(user_id=self.user_id, workflow_id=int(ref))
            definition = dashboard.with_trigger(wf.definition, self.trigger_type,
                                                trigger_params)
            if definition != wf.definition:
                schedule_service.resolve_config(s, definition=definition,
                                                trigger_type=self.trigger_type,
                                                trigger_config=extra)
                workflow_service.update_workflow(user_id=self.user_id, workflow_id=wf.id,
                                                 definition=definition)
        return schedule_service.create_schedule(
            s, user_id=self.user_id, workflow_id=wf.id, trigger_type=self.trigger_type,
            trigger_config=extra, name=self.name.strip())

    def _save_edit(self, s, params: dict[str, Any]):
        job = schedule_service.get_schedule(s, user_id=self.user_id, job_id=self.editing_id)
        wf = workflow_service.get_workflow(user_id=self.user_id, workflow_id=job.workflow_id)
        trigger_params = {k: v for k, v in params.items() if k != "priority"}
        definition = dashboard.with_trigger(wf.definition, job.trigger_type, trigger_params)
        schedule_service.resolve_config(s, definition=definition, trigger_type=job.trigger_type,
                                        trigger_config=None)
        if definition != wf.definition:
            workflow_service.update_workflow(user_id=self.user_id, workflow_id=wf.id,
                                             definition=definition)
        return schedule_service.update_schedule(s, user_id=self.user_id, job_id=job.id,
                                                trigger_config=params, name=self.name.strip())


class JobHistoryState(PagedMixin, AppState):
    """One job's details and history (``/scheduler/[job_id]``)."""

    def _reload(self):
        return JobHistoryState.load_history

    job: dict[str, str] = {}
    runs: list[dict[str, str]] = []
    missed: list[dict[str, str]] = []
    error: str = ""
    loaded: bool = False
    webhook: dict[str, str] = {}
    show_secret: bool = False

    def _job_id(self) -> int:
        return last_path_int(self)

    @rx.event
    def load_history(self):
        """Load the job and a page of its runs and missed runs (owner only)."""
        if not self._resolve():
            return
        s = settings()
        job_id = self._job_id()
        try:
            job = schedule_service.get_schedule(s, user_id=self.user_id, job_id=job_id)
            view = schedule_service.schedule_view(job)
            history = schedule_service.schedule_history(
                s, user_id=self.user_id, job_id=job_id, offset=(self.page - 1) * PAGE_SIZE,
                limit=PAGE_SIZE)
        except AgenticError as exc:
            self.error, self.loaded, self.job = error_text(exc), True, {}
            return
        status, reason = _status(job)
        self.job = {"id": str(job.id), "name": job.name, "trigger_type": job.trigger_type,
                    "schedule": view["description"], "status": status, "reason": reason,
                    "run_count": str(job.run_count), "problem": view.get("config_error") or "",
                    "next_runs": ", ".join(fmt_time(r) for r in view["next_runs"][:3]) or "—"}
        self.total = history["total"]
        self.runs = [{"job_id": str(r["job_id"]), "execution_id": str(r["execution_id"]),
                      "status": r["status"], "retries": str(r["retry_count"]),
                      "created": fmt_time(r["created_at"], seconds=True),
                      "duration": fmt_ms(r["duration_ms"]), "error": r["error"] or "",
                      "payload": _short(r["trigger_payload"])} for r in history["runs"]]
        self.missed = [{"fire_time": fmt_time(m["fire_time"]), "reason": m["reason"],
                        "detail": m.get("detail", "")} for m in history["missed"]]
        if job.trigger_type == "webhook":
            url = dashboard.webhook_url(s, job.webhook_token or "")
            secret = job.webhook_secret if self.show_secret else "<your secret>"
            mode = job.trigger_config.get("mode", "hmac")
            self.webhook = {"url": url, "mode": mode, "secret": job.webhook_secret
                            if self.show_secret else "••••••••",
                            **dashboard.webhook_examples(url, secret or "", mode)}
        else:
            self.webhook = {}
        self.error, self.loaded = "", True

    @rx.event
    def reveal_secret(self):
        """Show the webhook secret (and use it in the examples)."""
        self.show_secret = not self.show_secret
        return JobHistoryState.load_history

    @rx.event
    def back(self):
        """Back to the jobs table."""
        return rx.redirect(routes.SCHEDULER)


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when the user already has it."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def _short(payload: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(payload, default=str, separators=(",", ":")) if payload else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
