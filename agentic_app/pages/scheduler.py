"""Scheduler page: every scheduled job (health badge, counts, pause with a note, resume, skip
next) and the create/edit dialog per trigger type (one job's page: ``job_history``)."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.backtest_panel import backtest_panel
from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.widgets import (
    code_box,
    error_box,
    loading,
    pager,
    status_badge,
)
from agentic_app.pages.schedule_parts import health_badge, pause_dialog, skip_dialog
from agentic_app.state.schedule_control import ScheduleControlState
from agentic_app.state.schedule_form import CALENDARS, SESSION_RULES
from agentic_app.state.scheduler import (
    INDICATORS,
    TIMEFRAMES,
    TIMEZONES,
    TRIGGER_TYPES,
    SchedulerState,
)

S = SchedulerState
C = ScheduleControlState


def _job_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row["name"], href="/scheduler/" + row["id"],
                              id="job-link-" + row["id"])),
        rx.table.cell(row["workflow"]),
        rx.table.cell(rx.badge(row["trigger_type"], variant="surface")),
        rx.table.cell(rx.text(row["schedule"], size="2")),
        rx.table.cell(rx.text(row["next_run"], size="2")),
        rx.table.cell(rx.hstack(rx.text(row["last_run"], size="2"),
                                rx.cond(row["last_status"] != "",
                                        status_badge(row["last_status"]), rx.fragment()),
                                spacing="2", align="center")),
        rx.table.cell(rx.tooltip(rx.text(row["run_count"], id="job-runs-" + row["id"]),
                                 content=row["counts"])),
        rx.table.cell(rx.hstack(
            rx.tooltip(status_badge(row["status"]),
                       content=rx.cond(row["reason"] != "", row["reason"], "running")),
            health_badge(row["health"], row["health_reason"], "job-health-" + row["id"]),
            rx.cond(row["skip_next"] != "0",
                    rx.badge("skip ", row["skip_next"], variant="outline",
                             id="job-skip-" + row["id"]), rx.fragment()),
            rx.cond(row["problem"] != "",
                    rx.tooltip(rx.badge(rx.icon("triangle-alert", size=12), "error",
                                        color_scheme="red", variant="soft",
                                        id="job-problem-" + row["id"]),
                               content=row["problem"]),
                    rx.fragment()),
            spacing="1", align="center")),
        rx.table.cell(rx.hstack(
            rx.tooltip(rx.icon_button(rx.icon("zap", size=14), size="1", variant="ghost",
                                      on_click=S.run_now(row["id"]),
                                      id="run-job-" + row["id"]), content="Run now and watch"),
            rx.tooltip(rx.icon_button(rx.icon("pencil", size=14), size="1", variant="ghost",
                                      on_click=S.open_edit(row["id"]),
                                      id="edit-job-" + row["id"]), content="Edit"),
            rx.cond(row["status"] == "active",
                    rx.tooltip(rx.icon_button(
                        rx.icon("pause", size=14), size="1", variant="ghost",
                        on_click=C.open_pause(row["id"], row["name"], "jobs"),
                        id="pause-job-" + row["id"]), content="Pause (with a note)"),
                    rx.tooltip(rx.icon_button(
                        rx.icon("play", size=14), size="1", variant="ghost",
                        on_click=C.resume(row["id"], "jobs"),
                        id="resume-job-" + row["id"]), content="Resume")),
            rx.tooltip(rx.icon_button(rx.icon("skip-forward", size=14), size="1",
                                      variant="ghost",
                                      on_click=C.open_skip(row["id"], row["name"], "jobs"),
                                      id="skip-job-" + row["id"]), content="Skip next runs"),
            rx.tooltip(rx.icon_button(rx.icon("trash-2", size=14), size="1", variant="ghost",
                                      color_scheme="red",
                                      on_click=S.ask_delete(row["id"], row["name"]),
                                      id="delete-job-" + row["id"]), content="Delete"),
            spacing="1")),
        id="job-row-" + row["id"],
    )


def _jobs_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                "Job", "Workflow", "Trigger", "Schedule", "Next run", "Last run", "Runs",
                "Status", "")])),
            rx.table.body(rx.foreach(S.rows, _job_row)),
            width="100%", id="jobs-table", size="2",
        ),
        pager(S.page, S.page_count, S.total, S.prev_page, S.next_page, "jobs"),
        width="100%",
    )


def _select(value, options, on_change, id: str, width: str = "100%") -> rx.Component:
    """A select over plain string options."""
    return rx.select(options, value=value, on_change=on_change, id=id, width=width)


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1",
                     width="100%")


def _cron_form() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _field("Cron expression", rx.input(
                value=S.cron_expression, id="cron-expression", debounce_timeout=250,
                on_change=lambda v: S.set_field("cron_expression", v),
                font_family="monospace")),
            _field("Timezone", _select(S.timezone, TIMEZONES,
                                       lambda v: S.set_field("timezone", v), "cron-timezone")),
            width="100%", spacing="3"),
        rx.hstack(
            _field("Time occurring twice (DST ends)", _select(
                S.dst_ambiguous, ["default", "first", "second"],
                lambda v: S.set_field("dst_ambiguous", v), "dst-ambiguous")),
            _field("Time skipped (DST starts)", _select(
                S.dst_nonexistent, ["default", "shift", "skip"],
                lambda v: S.set_field("dst_nonexistent", v), "dst-nonexistent")),
            width="100%", spacing="3"),
        width="100%",
    )


def _session_form() -> rx.Component:
    """Limit to a market's trading sessions (calendar, rule, minutes from open/close)."""
    return rx.hstack(
        _field("Trading session", _select(S.session_rule, SESSION_RULES,
                                          lambda v: S.set_field("session_rule", v),
                                          "session-rule")),
        _field("Calendar", _select(S.session_calendar, CALENDARS,
                                   lambda v: S.set_field("session_calendar", v),
                                   "session-calendar")),
        rx.cond((S.session_rule == "after_open") | (S.session_rule == "before_close"),
                _field("Minutes", rx.input(
                    value=S.session_offset, type="number", min=0, id="session-offset",
                    debounce_timeout=250, on_change=lambda v: S.set_field("session_offset", v)))),
        width="100%", spacing="3",
    )


def _interval_form() -> rx.Component:
    return _field("Every (minutes)", rx.input(
        value=S.interval_minutes, type="number", min=1, id="interval-minutes",
        debounce_timeout=250, on_change=lambda v: S.set_field("interval_minutes", v)))


def _condition_input(placeholder: str) -> rx.Component:
    return rx.vstack(
        rx.input(value=S.condition, id="condition-input", placeholder=placeholder, width="100%",
                 debounce_timeout=300, font_family="monospace",
                 on_change=lambda v: S.set_field("condition", v),
                 color_scheme=rx.cond(S.condition_error != "", "red", "indigo")),
        rx.cond(
            S.condition_error != "",
            rx.box(
                rx.el.pre(S.condition, "\n", S.condition_caret,
                          style={"margin": 0, "font_size": "13px", "color": "var(--red-11)"},
                          id="condition-caret"),
                rx.text(S.condition_error, size="1", color_scheme="red", id="condition-error"),
                padding="6px 8px", background="var(--red-a2)", border_radius="6px",
                width="100%"),
        ),
        spacing="1", width="100%",
    )


def _market_form() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _field("Symbol", _select(S.symbol, S.symbols, lambda v: S.set_field("symbol", v),
                                     "symbol-select")),
            rx.cond(S.trigger_type == "indicator", rx.hstack(
                _field("Indicator", _select(S.indicator, INDICATORS,
                                            lambda v: S.set_field("indicator", v),
                                            "indicator-select")),
                _field("Period", rx.input(value=S.period, id="indicator-period",
                                          debounce_timeout=300,
                                          on_change=lambda v: S.set_field("period", v))),
                _field("Timeframe", _select(S.timeframe, TIMEFRAMES,
                                            lambda v: S.set_field("timeframe", v),
                                            "timeframe-select")),
                spacing="3", width="100%")),
            width="100%", spacing="3"),
        _field("Condition", _condition_input(
            rx.cond(S.trigger_type == "price", "price > 1.10", "rsi < 30"))),
        backtest_panel(S.indicator, S.trigger_type == "indicator"),
        width="100%",
    )


def _webhook_form() -> rx.Component:
    return rx.vstack(
        _field("Mode", _select(S.webhook_mode, ["hmac", "shared_secret", "tradingview"],
                               lambda v: S.set_field("webhook_mode", v), "webhook-mode")),
        rx.text("The URL and secret are shown once the job is created. HMAC mode signs "
                "each request (X-Agentic-Signature: t=…,v1=…); shared-secret mode is for "
                "senders that cannot sign, and is weaker; tradingview mode gives a secret URL "
                "for TradingView alerts (text or JSON, duplicates dropped, unfilled "
                "{{placeholders}} refused) and a message to paste.",
                size="1", color_scheme="gray"),
        width="100%",
    )


def _preview() -> rx.Component:
    return rx.vstack(
        rx.cond(S.preview_error != "",
                rx.text(S.preview_error, color_scheme="red", size="2", id="preview-error")),
        rx.cond(S.preview_description != "",
                rx.text(S.preview_description, weight="medium", id="preview-description")),
        rx.cond(S.preview_dst != "", rx.text(S.preview_dst, size="1", id="preview-dst")),
        rx.cond(S.preview_runs.length() > 0, rx.vstack(
            rx.text("Next runs", size="1", color_scheme="gray"),
            rx.foreach(S.preview_runs, lambda r: rx.text(r, size="2", font_family="monospace",
                                                           class_name="next-run")),
            spacing="0", id="preview-runs")),
        width="100%", spacing="1", padding="8px", background="var(--gray-a2)",
        border_radius="8px",
    )


def _created_webhook() -> rx.Component:
    return rx.vstack(
        rx.callout("Copy the secret now: it is not shown again here.", icon="key-round",
                   color_scheme="amber"),
        _field("URL", code_box(S.created_webhook["url"], id="webhook-url")),
        _field("Secret", code_box(S.created_webhook["secret"], id="webhook-secret")),
        _field("curl", code_box(S.created_webhook["curl"], id="webhook-curl")),
        _field("TradingView", code_box(S.created_webhook["tradingview"])),
        rx.cond(S.created_webhook.contains("message"), _field(
            "Alert message", code_box(S.created_webhook["message"], id="webhook-message"))),
        rx.button("Done", on_click=S.close_dialog, id="webhook-done"),
        width="100%",
    )


def _dialog() -> rx.Component:
    form = rx.vstack(
        rx.cond(S.editing_id == 0, _field("Workflow", rx.select.root(
            rx.select.trigger(width="100%", id="source-select"),
            rx.select.content(rx.foreach(S.source_options,
                                         lambda o: rx.select.item(o[1], value=o[0]))),
            value=S.source, on_change=S.set_source))),
        _field("Name", rx.input(value=S.name, on_change=lambda v: S.set_field("name", v),
                                id="job-name", width="100%")),
        rx.segmented_control.root(
            *[rx.segmented_control.item(label, value=value) for value, label in TRIGGER_TYPES],
            value=S.trigger_type, on_change=S.set_trigger_type, id="trigger-type"),
        rx.match(S.trigger_type,
                 ("cron", _cron_form()), ("time", _interval_form()),
                 ("price", _market_form()), ("indicator", _market_form()),
                 ("webhook", _webhook_form()), rx.fragment()),
        rx.cond(S.trigger_type != "webhook", _session_form()),
        _field("Priority", _select(S.priority, ["high", "normal", "low"],
                                   lambda v: S.set_field("priority", v), "priority-select")),
        _preview(),
        rx.cond(S.form_error != "", error_box(S.form_error, id="form-error")),
        rx.text("A workflow may have any number of schedules; saving never changes the "
                "workflow (its trigger node only gave the defaults).", size="1",
                color_scheme="gray"),
        rx.hstack(rx.spacer(), rx.button("Cancel", variant="soft", color_scheme="gray",
                                         on_click=S.close_dialog),
                  rx.button("Save", on_click=S.save, id="save-job"), width="100%"),
        width="100%", spacing="3",
    )
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(S.dialog_title),
            rx.cond(S.created_webhook.contains("url"), _created_webhook(), form),
            max_width="760px", max_height="92vh", overflow_y="auto", id="job-dialog",
        ),
        open=S.dialog_open, on_open_change=S.set_dialog_open,
    )


def _delete_confirm() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete scheduled job"),
            rx.alert_dialog.description(
                "Delete ", S.confirm_delete_name, "? Its past executions stay in history."),
            rx.hstack(rx.spacer(),
                      rx.button("Cancel", variant="soft", color_scheme="gray",
                                on_click=S.cancel_delete),
                      rx.button("Delete", color_scheme="red", on_click=S.confirm_delete,
                                id="confirm-delete"), margin_top="1em"),
        ),
        open=S.confirm_delete_id != 0,
    )


def scheduler_page() -> rx.Component:
    """Scheduled jobs of the user, with create/edit, pause/resume and delete."""
    return page_frame(
        "Scheduler",
        rx.hstack(rx.text("Cron, interval, price, indicator and webhook triggers.",
                          color_scheme="gray"), rx.spacer(),
                  rx.button(rx.icon("plus", size=16), "New job", on_click=S.open_create,
                            id="new-job"), width="100%"),
        rx.cond(
            ~S.loaded, loading(),
            rx.cond(S.load_error != "", error_box(S.load_error),
                    rx.cond(S.rows.length() > 0, _jobs_table(),
                            empty_state("calendar-clock", "No scheduled jobs",
                                        "Schedule a workflow by cron, interval, price, "
                                        "indicator or webhook with “New job”.")))),
        _dialog(),
        _delete_confirm(),
        pause_dialog(),
        skip_dialog(),
    )

