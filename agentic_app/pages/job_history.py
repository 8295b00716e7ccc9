"""One job's page (``/scheduler/[job_id]``): status and health, counts, pause note and skips,
webhook set-up, and the history - executions with missed, skipped and failed runs inline."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.widgets import (
    alert_only_badge,
    code_box,
    error_box,
    loading,
    pager,
    status_badge,
)
from agentic_app.pages.schedule_parts import health_badge, pause_dialog, skip_dialog
from agentic_app.state.job_history import JobHistoryState
from agentic_app.state.portfolio import AlertModeState
from agentic_app.state.schedule_control import ScheduleControlState

H = JobHistoryState
C = ScheduleControlState
KIND_COLORS = {"run": "green", "failed": "red", "missed": "amber", "skipped": "gray"}
"""Badge colour per timeline kind."""


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1",
                     width="100%")


def _kind(kind) -> rx.Component:
    return rx.match(kind, *[(k, rx.badge(k, color_scheme=c, variant="soft"))
                            for k, c in KIND_COLORS.items()], rx.badge(kind))


def _entry_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["at"]),
        rx.table.cell(_kind(row["kind"])),
        rx.table.cell(rx.hstack(status_badge(row["status"]),
                                alert_only_badge(row["alert_only"]))),
        rx.table.cell(rx.cond(row["execution_id"] != "",
                              rx.link("#" + row["execution_id"],
                                      href="/monitor/" + row["execution_id"]),
                              rx.text("—"))),
        rx.table.cell(row["duration"]),
        rx.table.cell(rx.text(row["detail"], size="1")),
        class_name="timeline-entry", custom_attrs={"data-kind": row["kind"]},
    )


def _webhook_info() -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(rx.heading("Webhook", size="4"), rx.spacer(),
                  rx.button("Rotate secret", size="1", variant="soft", on_click=H.rotate_secret,
                            id="rotate-secret")),
        _field("URL", code_box(H.webhook["url"], id="webhook-url")),
        _field("Secret (" + H.webhook["mode"] + ")", code_box(H.webhook["secret"])),
        _field("curl", code_box(H.webhook["curl"], id="webhook-curl")),
        _field("TradingView alert", code_box(H.webhook["tradingview"], id="webhook-tradingview")),
        rx.cond(H.webhook.contains("message"), _field(
            "Alert message", code_box(H.webhook["message"], id="job-webhook-message"))),
        width="100%"), width="100%")


def _actions() -> rx.Component:
    return rx.hstack(
        rx.cond(H.job["active"] == "yes",
                rx.button(rx.icon("pause", size=14), "Pause", size="1", variant="soft",
                          on_click=C.open_pause(H.job["id"], H.job["name"], "history"),
                          id="pause-job-now"),
                rx.button(rx.icon("play", size=14), "Resume", size="1", variant="soft",
                          on_click=C.resume(H.job["id"], "history"), id="resume-job-now")),
        rx.button(rx.icon("skip-forward", size=14), "Skip next", size="1", variant="soft",
                  on_click=C.open_skip(H.job["id"], H.job["name"], "history"),
                  id="skip-job-now"),
        rx.button(rx.icon("zap", size=14), "Run now", size="1", variant="soft",
                  on_click=H.run_now, id="run-job-now"),
        spacing="2")


def _details() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.heading(H.job["name"], size="5", id="job-name-heading"),
                  status_badge(H.job["status"]),
                  health_badge(H.job["health"], H.job["health_reason"], "job-health"),
                  rx.badge(H.job["trigger_type"]),
                  alert_only_badge(H.job["alert_only"], id="job-alert-only-badge"),
                  rx.spacer(), rx.text("Alert-only", size="2"),
                  rx.switch(checked=H.job["alert_only"] != "", size="1", id="job-alert-only",
                            on_change=AlertModeState.set_job_alert_only),
                  _actions(),
                  rx.link("← all jobs", href="/scheduler"), width="100%", align="center"),
        rx.text(H.job["schedule"]),
        rx.cond(H.job["reason"] != "", rx.callout(
            rx.text(H.job["reason"], rx.cond(H.job["pause_note"] != "",
                                             ": " + H.job["pause_note"], ""),
                    rx.cond(H.job["resume_at"] != "", " · resumes " + H.job["resume_at"], "")),
            icon="circle-pause", color_scheme="amber", id="job-paused")),
        rx.cond(H.job["problem"] != "", rx.callout(H.job["problem"], icon="triangle-alert",
                                                   color_scheme="red", id="job-problem")),
        rx.cond(H.job["skip_next"] != "0", rx.callout(
            "Skipping the next " + H.job["skip_next"] + " run(s)", icon="skip-forward",
            color_scheme="gray", id="job-skipping")),
        rx.text(H.job["counts"], " · next: ", H.job["next_runs"], size="2",
                color_scheme="gray", id="job-counts"),
        width="100%", spacing="2")


def job_history_page() -> rx.Component:
    """One job: status, health, schedule, webhook details, and its history with missed,
    skipped and failed runs inline."""
    return page_frame(
        "Job history",
        rx.cond(~H.loaded, loading(), rx.cond(H.error != "", error_box(H.error), rx.vstack(
            _details(),
            rx.cond(H.webhook.contains("url"), _webhook_info()),
            rx.heading("History", size="4"),
            rx.cond(H.timeline.length() > 0, rx.vstack(
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Time", "Kind", "Status / reason", "Execution", "Duration",
                        "Detail")])),
                    rx.table.body(rx.foreach(H.timeline, _entry_row)), width="100%",
                    id="history-table"),
                pager(H.page, H.page_count, H.total, H.prev_page, H.next_page, "history"),
                width="100%"),
                empty_state("history", "Nothing yet", "Runs, and fire times that were missed "
                            "or skipped, appear here.")),
            width="100%", spacing="3"))),
        pause_dialog(),
        skip_dialog(),
    )
