"""Live execution monitor: active and recent executions (``/monitor``) and one execution
live (``/monitor/[execution_id]``): progress, DAG, log, timeline, metrics."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.orders import execution_orders
from agentic_app.components.widgets import (
    alert_only_badge,
    error_box,
    loading,
    pager,
    stat_card,
    status_badge,
)
from agentic_app.state.live import LiveState
from agentic_app.state.monitor import LEVELS, MonitorState

M = MonitorState
NODE_BG = {"pending": "var(--gray-a3)", "running": "var(--blue-a5)",
           "succeeded": "var(--green-a5)", "failed": "var(--red-a5)",
           "skipped": "var(--gray-a5)", "cancelled": "var(--orange-a5)"}
BAR_COLOR = {"running": "var(--blue-9)", "succeeded": "var(--green-9)",
             "failed": "var(--red-9)", "skipped": "var(--gray-8)",
             "cancelled": "var(--orange-9)"}


def _bg(status, table: dict[str, str], default: str) -> rx.Var:
    return rx.match(status, *[(k, v) for k, v in table.items()], default)


def _active_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link("#" + row["id"], href="/monitor/" + row["id"],
                              id="active-link-" + row["id"])),
        rx.table.cell(row["workflow"]), rx.table.cell(status_badge(row["status"])),
        rx.table.cell(row["trigger"]), rx.table.cell(rx.code(row["running_nodes"])),
        rx.table.cell(row["attempt"]), rx.table.cell(row["started"]),
    )


def _recent_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link("#" + row["id"], href="/monitor/" + row["id"])),
        rx.table.cell(row["workflow"]), rx.table.cell(status_badge(row["status"])),
        rx.table.cell(rx.hstack(rx.text(row["trigger"]), alert_only_badge(row["alert_only"]))),
        rx.table.cell(row["created"]),
        rx.table.cell(row["duration"]),
        rx.table.cell(rx.text(row["error"], size="1", color_scheme="red")),
    )


def _header(*cells: str) -> rx.Component:
    return rx.table.header(rx.table.row(*[rx.table.column_header_cell(c) for c in cells]))


def monitor_page() -> rx.Component:
    """Active executions (live) and recent ones."""
    active = rx.cond(
        ~LiveState.active_loaded, loading(),
        rx.cond(LiveState.active.length() > 0,
                rx.table.root(_header("Execution", "Workflow", "Status", "Trigger",
                                      "Running nodes", "Attempt", "Started"),
                              rx.table.body(rx.foreach(LiveState.active, _active_row)),
                              width="100%", id="active-table"),
                empty_state("activity", "No active executions",
                            "Running executions show up here live.")))
    recent = rx.cond(
        ~M.recent_loaded, loading(),
        rx.cond(M.recent.length() > 0, rx.vstack(
            rx.table.root(_header("Execution", "Workflow", "Status", "Trigger", "Created",
                                  "Duration", "Error"),
                          rx.table.body(rx.foreach(M.recent, _recent_row)), width="100%",
                          id="recent-table"),
            pager(M.recent_page, M.recent_page_count, M.recent_total, M.recent_prev,
                  M.recent_next, "recent"), width="100%"),
            rx.text("No executions yet.", color_scheme="gray")))
    return page_frame(
        "Monitor",
        rx.hstack(rx.heading("Active", size="4"),
                  rx.cond(LiveState.watching, rx.badge("live", color_scheme="green")),
                  align="center"),
        active,
        rx.hstack(rx.heading("Recent", size="4"), rx.spacer(),
                  rx.button(rx.icon("refresh-cw", size=14), "Refresh", size="1",
                            variant="soft", on_click=M.load_recent), width="100%"),
        recent,
    )


def _dag_node(node) -> rx.Component:
    return rx.box(
        rx.text(node["id"], weight="bold", size="2"),
        rx.text(node["type"], size="1", color_scheme="gray"),
        rx.text(node["status"], size="1", class_name="dag-status"),
        padding="6px 12px", border_radius="8px", min_width="120px", text_align="center",
        background=_bg(node["status"], NODE_BG, "var(--gray-a3)"),
        border="1px solid var(--gray-a6)", id="dag-node-" + node["id"],
        data_status=node["status"],
    )


def _dag() -> rx.Component:
    return rx.hstack(
        rx.foreach(M.dag, lambda level, i: rx.hstack(
            rx.cond(i > 0, rx.icon("chevron-right", color="var(--gray-8)")),
            rx.vstack(rx.foreach(level, _dag_node), spacing="2", justify="center"),
            align="center", spacing="2")),
        spacing="2", align="center", overflow_x="auto", width="100%", padding="8px",
        id="dag",
    )


def _node_bar(node) -> rx.Component:
    return rx.hstack(
        rx.text(node["id"], size="2", width="140px", font_family="monospace"),
        # a number, not the string "50": Radix shows a string as indeterminate, an animation
        # that repaints the page forever (~80 ms of browser CPU per second, see PERFORMANCE.md)
        rx.progress(value=rx.match(node["progress"], ("100", 100), ("50", 50), 0), width="100%",
                    color_scheme=rx.match(node["status"], ("failed", "red"),
                                          ("succeeded", "green"), ("skipped", "gray"),
                                          ("cancelled", "orange"), "blue")),
        status_badge(node["status"]), rx.text(node["duration"], size="1", width="70px"),
        width="100%", align="center", spacing="3",
    )


def _log_line(line) -> rx.Component:
    return rx.hstack(
        rx.text(line["time"], size="1", color_scheme="gray", font_family="monospace"),
        rx.badge(line["level"], size="1", variant="soft", color_scheme=rx.match(
            line["level"], ("error", "red"), ("warning", "amber"), ("debug", "gray"), "blue")),
        rx.text(line["node"], size="1", weight="bold", font_family="monospace"),
        rx.text(line["message"], size="1", font_family="monospace"),
        spacing="2", align="center", class_name="log-line",
    )


def _log() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.heading("Log", size="4"), rx.spacer(),
                  rx.select(LEVELS, value=M.log_level, on_change=M.set_log_level, size="1",
                            id="log-level"),
                  rx.select(M.node_ids, value=M.log_node, on_change=M.set_log_node, size="1",
                            id="log-node"), width="100%", align="center"),
        rx.box(rx.cond(M.visible_logs.length() > 0,
                       rx.vstack(rx.foreach(M.visible_logs, _log_line), spacing="1"),
                       rx.text("No log lines yet.", size="1", color_scheme="gray")),
               max_height="280px", overflow_y="auto", width="100%", padding="8px",
               background="var(--gray-a2)", border_radius="8px", id="log-view"),
        width="100%",
    )


def _span_row(span) -> rx.Component:
    return rx.hstack(
        rx.text(span["label"], size="1", width="180px", font_family="monospace"),
        rx.box(
            rx.tooltip(rx.box(height="14px", border_radius="4px", position="absolute",
                              top="3px", left=span["left"], width=span["width"],
                              background=_bg(span["status"], BAR_COLOR, "var(--gray-8)")),
                       content=span["duration"]),
            position="relative", height="20px", width="100%", background="var(--gray-a2)",
            border_radius="4px"),
        rx.text(span["duration"], size="1", width="70px"),
        width="100%", align="center", class_name="timeline-row",
    )


def _timeline() -> rx.Component:
    return rx.vstack(
        rx.heading("Timeline", size="4"),
        rx.cond(M.spans.length() > 0,
                rx.vstack(rx.foreach(M.spans, _span_row), width="100%", spacing="1"),
                rx.text("No node has started yet.", size="1", color_scheme="gray")),
        width="100%", id="timeline",
    )


def _metrics() -> rx.Component:
    return rx.hstack(
        stat_card("Nodes ok", rx.cond(M.metrics.contains("ok"), M.metrics["ok"],
                                      M.counts["succeeded"].to_string()), "green",
                  id="metric-ok"),
        stat_card("Nodes failed", rx.cond(M.metrics.contains("failed"), M.metrics["failed"],
                                          M.counts["failed"].to_string()), "red",
                  id="metric-failed"),
        stat_card("Total time", rx.cond(M.metrics.contains("total"), M.metrics["total"], "—"),
                  id="metric-total"),
        stat_card("Avg node time", rx.cond(M.metrics.contains("avg"), M.metrics["avg"], "—")),
        stat_card("Peak memory", rx.cond(M.metrics.contains("memory"), M.metrics["memory"],
                                         "—")),
        spacing="3", wrap="wrap", width="100%",
    )


def execution_page() -> rx.Component:
    """One execution, live."""
    body = rx.vstack(
        rx.hstack(
            rx.heading("#", M.execution["id"], " ", M.execution["workflow"], size="5"),
            rx.box(status_badge(M.execution["status"]), id="execution-status",
                   data_status=M.execution["status"]),
            rx.cond(M.live, rx.badge(rx.icon("radio", size=12), "live",
                                     color_scheme="green", id="live-badge")),
            alert_only_badge(M.execution["alert_only"], id="alert-only-badge"),
            rx.spacer(), rx.text("trigger ", M.execution["trigger"], " · attempt ",
                                 M.execution["attempt"], " · ", M.execution["created"],
                                 size="2", color_scheme="gray"),
            rx.link("← monitor", href="/monitor"), width="100%", align="center"),
        rx.cond(M.execution["error"] != "", error_box(M.execution["error"],
                                                      id="execution-error")),
        rx.hstack(rx.text("Overall", size="2", width="140px"),
                  rx.progress(value=M.progress, width="100%", id="overall-progress"),
                  rx.text(M.progress, "%", size="2", width="70px", id="overall-pct"),
                  width="100%", align="center"),
        _metrics(),
        rx.heading("DAG", size="4"), _dag(),
        rx.heading("Nodes", size="4"),
        rx.vstack(rx.foreach(M.node_rows, _node_bar), width="100%", spacing="2"),
        _timeline(),
        execution_orders(),
        _log(),
        width="100%", spacing="3",
    )
    return page_frame("Execution", rx.cond(~M.loaded, loading(),
                                           rx.cond(M.error != "", error_box(M.error), body)))
