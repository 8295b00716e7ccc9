"""Queue dashboard: counts per status and priority, workers, throughput and failure rate over
the last hour, jobs by status with cancel / retry, bulk actions, and a link to rq-dashboard."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.widgets import error_box, loading, pager, stat_card, status_badge
from agentic_app.state.queue import TABS, QueueState

Q = QueueState
STAT_COLORS = {"pending": "gray", "running": "blue", "completed": "green", "failed": "red",
               "cancelled": "orange"}


def _job_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["id"]),
        rx.table.cell(rx.cond(row["execution_id"] != "",
                              rx.link("#" + row["execution_id"],
                                      href="/monitor/" + row["execution_id"]), "—")),
        rx.table.cell(row["workflow_id"]), rx.table.cell(status_badge(row["status"])),
        rx.table.cell(row["priority"]), rx.table.cell(row["retries"]),
        rx.table.cell(row["created"]),
        rx.table.cell(rx.text(row["error"], size="1", color_scheme="red")),
        rx.table.cell(rx.hstack(
            rx.cond((row["status"] == "pending") | (row["status"] == "running"),
                    rx.button("Cancel", size="1", variant="soft", color_scheme="orange",
                              on_click=Q.cancel(row["id"]), id="cancel-job-" + row["id"])),
            rx.cond((row["status"] == "failed") | (row["status"] == "cancelled"),
                    rx.button("Retry", size="1", variant="soft",
                              on_click=Q.retry(row["id"]), id="retry-job-" + row["id"])),
            spacing="1")),
        id="queue-row-" + row["id"],
    )


def _jobs() -> rx.Component:
    return rx.cond(
        Q.rows.length() > 0,
        rx.vstack(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                    "Job", "Execution", "Workflow", "Status", "Priority", "Retries",
                    "Created", "Error", "")])),
                rx.table.body(rx.foreach(Q.rows, _job_row)), width="100%", id="queue-table"),
            pager(Q.page, Q.page_count, Q.total, Q.prev_page, Q.next_page, "queue"),
            width="100%"),
        empty_state("list-ordered", "Nothing here", "No job has this status."),
    )


def _chart() -> rx.Component:
    return rx.card(rx.vstack(
        rx.text("Throughput and failure rate, last hour (per minute)", size="2",
                weight="medium"),
        rx.recharts.composed_chart(
            rx.recharts.bar(data_key="completed", fill="var(--green-9)", stack_id="a",
                            is_animation_active=False),
            rx.recharts.bar(data_key="failed", fill="var(--red-9)", stack_id="a",
                            is_animation_active=False),
            rx.recharts.line(data_key="failure_rate", y_axis_id="right", stroke="var(--red-11)",
                             dot=False, is_animation_active=False, name="failure %"),
            rx.recharts.x_axis(data_key="minute", min_tick_gap=30, font_size=10),
            rx.recharts.y_axis(allow_decimals=False, font_size=10, width=40),
            rx.recharts.y_axis(y_axis_id="right", orientation="right", domain=[0, 100],
                               font_size=10, width=40),
            rx.recharts.graphing_tooltip(), rx.recharts.legend(),
            data=Q.series, height=220, width="100%"),
        width="100%"), width="100%", id="throughput-chart")


def _workers() -> rx.Component:
    return rx.card(rx.vstack(
        rx.hstack(rx.text("Workers online: ", rx.text.strong(Q.workers.length()), size="2",
                          id="workers-online"),
                  rx.spacer(), rx.text("Queue depth ", Q.depth, " · waiting for a slot ",
                                       Q.waiting, size="2", color_scheme="gray"),
                  width="100%"),
        rx.cond(~Q.redis_ok, rx.callout("Redis is unreachable: worker facts unavailable.",
                                        icon="triangle-alert", color_scheme="amber")),
        rx.foreach(Q.workers, lambda w: rx.hstack(
            rx.icon("cpu", size=14), rx.text(w["name"], size="1", font_family="monospace"),
            status_badge(w["state"]), rx.text(w["queues"], size="1", color_scheme="gray"),
            rx.text("job ", w["job"], size="1"), spacing="2", align="center")),
        width="100%"), width="100%")


def _priority_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(rx.table.column_header_cell("Priority"),
                                     *[rx.table.column_header_cell(t) for t in TABS])),
        rx.table.body(rx.foreach(Q.by_priority, lambda r: rx.table.row(
            rx.table.cell(r["band"]), *[rx.table.cell(r[t]) for t in TABS]))),
        size="1", width="100%", id="priority-table")


def _bulk_confirm() -> rx.Component:
    return rx.alert_dialog.root(rx.alert_dialog.content(
        rx.alert_dialog.title("Bulk action"),
        rx.alert_dialog.description(Q.bulk_text),
        rx.hstack(rx.spacer(), rx.button("Cancel", variant="soft", color_scheme="gray",
                                         on_click=Q.close_bulk),
                  rx.button("Confirm", color_scheme="red", on_click=Q.run_bulk,
                            id="confirm-bulk"), margin_top="1em")),
        open=Q.bulk_action != "")


def queue_page() -> rx.Component:
    """The user's queue at a glance, and its jobs by status."""
    body = rx.vstack(
        rx.hstack(*[stat_card(t.capitalize(), Q.counts[t], STAT_COLORS[t],
                              id=f"count-{t}") for t in TABS],
                  spacing="3", wrap="wrap", width="100%"),
        rx.grid(_chart(), rx.vstack(_workers(), _priority_table(), width="100%"),
                columns="2", spacing="3", width="100%"),
        rx.hstack(
            rx.tabs.root(rx.tabs.list(*[rx.tabs.trigger(t.capitalize(), value=t,
                                                         id=f"tab-{t}") for t in TABS]),
                         value=Q.tab, on_change=Q.set_tab),
            rx.spacer(),
            rx.button(rx.icon("rotate-ccw", size=14), "Retry all failed", size="2",
                      variant="soft", on_click=Q.ask_bulk("retry"), id="bulk-retry",
                      disabled=Q.counts["failed"] == 0),
            rx.button(rx.icon("ban", size=14), "Cancel all pending", size="2",
                      variant="soft", color_scheme="orange", on_click=Q.ask_bulk("cancel"),
                      id="bulk-cancel", disabled=Q.counts["pending"] == 0),
            width="100%", align="center"),
        _jobs(),
        width="100%", spacing="4",
    )
    return page_frame(
        "Queue",
        rx.hstack(rx.text("Your jobs by status; workers are shared.", color_scheme="gray"),
                  rx.spacer(), rx.link(rx.button(rx.icon("external-link", size=14),
                                                 "rq-dashboard", variant="soft"),
                                       href=Q.rq_url, is_external=True, id="rq-link"),
                  width="100%"),
        rx.cond(Q.error != "", error_box(Q.error)),
        rx.cond(~Q.loaded, loading(), body),
        _bulk_confirm(),
    )
