"""Workflows: the list with create-from-template and run now, and the editor
(``/workflows/[workflow_id]``): params form, JSON with inline problems, DAG picture."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.widgets import error_box, loading, pager
from agentic_app.state.portfolio import AlertModeState
from agentic_app.state.workflows import TEMPLATE_NAMES, WorkflowEditState, WorkflowsState

W = WorkflowsState
E = WorkflowEditState


def _row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row["name"], href="/workflows/" + row["id"])),
        rx.table.cell(rx.text(row["description"], size="1")),
        rx.table.cell(row["nodes"]), rx.table.cell(row["version"]),
        rx.table.cell(row["active"]), rx.table.cell(row["updated"]),
        rx.table.cell(rx.switch(checked=row["alert_only"] != "", size="1",
                                on_change=lambda v: AlertModeState.set_workflow_alert_only(
                                    row["id"], v), id="alert-only-wf-" + row["id"])),
        rx.table.cell(rx.button(rx.icon("play", size=14), "Run now", size="1",
                                on_click=W.run_now(row["id"]), id="run-now-" + row["id"])),
    )


def workflows_page() -> rx.Component:
    """List of workflows with their size and version; create from a template; run now."""
    table = rx.vstack(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Name", "Description", "Nodes", "Version",
                                            "Active", "Updated", "Alert-only", "")])),
            rx.table.body(rx.foreach(W.rows, _row)),
            width="100%", id="workflows-table",
        ),
        pager(W.page, W.page_count, W.total, W.prev_page, W.next_page, "workflows"),
        width="100%")
    create = rx.hstack(
        rx.select(TEMPLATE_NAMES, value=W.template, on_change=W.set_template,
                  id="template-select"),
        rx.input(placeholder="Name (optional)", value=W.new_name, on_change=W.set_new_name,
                 id="new-workflow-name"),
        rx.button(rx.icon("plus", size=16), "Create from template",
                  on_click=W.create_from_template, id="create-workflow"),
        spacing="2", align="center")
    return page_frame(
        "Workflows",
        create,
        rx.cond(
            ~W.loaded, loading(),
            rx.cond(W.error != "", error_box(W.error),
                    rx.cond(W.rows.length() > 0, table,
                            empty_state("workflow", "No workflows yet",
                                        "Create one from a template to get started.")))),
    )


def _dag() -> rx.Component:
    node = lambda n: rx.box(rx.text(n["id"], weight="bold", size="2"),  # noqa: E731
                            rx.text(n["type"], size="1", color_scheme="gray"),
                            padding="6px 12px", border_radius="8px", text_align="center",
                            border="1px solid var(--gray-a6)", background="var(--accent-a3)")
    return rx.hstack(
        rx.foreach(E.levels, lambda level, i: rx.hstack(
            rx.cond(i > 0, rx.icon("chevron-right", color="var(--gray-8)")),
            rx.vstack(rx.foreach(level, node), spacing="2"), align="center", spacing="2")),
        overflow_x="auto", width="100%", padding="8px", id="workflow-dag")


def _param_row(p) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(p["node"])), rx.table.cell(rx.text(p["type"], size="1")),
        rx.table.cell(p["key"]),
        rx.table.cell(rx.input(default_value=p["value"], size="1", font_family="monospace",
                               on_blur=lambda v: E.set_param(p["node"], p["key"], v),
                               key=p["node"] + "." + p["key"] + "=" + p["value"])),
    )


def workflow_edit_page() -> rx.Component:
    """Editor of one workflow."""
    body = rx.vstack(
        rx.hstack(rx.input(value=E.name, on_change=E.set_name, width="360px", id="wf-name"),
                  rx.badge("version ", E.version), rx.cond(E.dirty, rx.badge("unsaved",
                                                                         color_scheme="amber")),
                  rx.spacer(),
                  rx.button("Save", on_click=E.save, disabled=E.problems.length() > 0,
                            id="save-workflow"),
                  rx.button(rx.icon("play", size=14), "Run now", variant="soft",
                            on_click=E.run_now, id="run-now"),
                  width="100%", align="center"),
        rx.text(E.description, color_scheme="gray", size="2"),
        rx.heading("DAG", size="4"), _dag(),
        rx.cond(E.problems.length() > 0, rx.callout(
            rx.vstack(rx.foreach(E.problems, lambda p: rx.text(
                rx.cond(p["field"] != "", rx.code(p["field"]), ""), " ", p["message"],
                size="2"))), icon="triangle-alert", color_scheme="red", width="100%",
            id="workflow-problems")),
        rx.grid(
            rx.vstack(rx.heading("Node parameters", size="4"), rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                               ("Node", "Type", "Param", "Value")])),
                rx.table.body(rx.foreach(E.params, _param_row)), size="1", width="100%"),
                width="100%"),
            rx.vstack(rx.heading("JSON", size="4"),
                      rx.text_area(value=E.definition_text, on_change=E.set_definition_text,
                                   debounce_timeout=400, rows="28", width="100%",
                                   font_family="monospace", font_size="12px",
                                   id="workflow-json"), width="100%"),
            columns="2", spacing="4", width="100%"),
        width="100%", spacing="3")
    return page_frame("Workflow", rx.cond(~E.loaded, loading(),
                                          rx.cond(E.error != "", error_box(E.error), body)))
