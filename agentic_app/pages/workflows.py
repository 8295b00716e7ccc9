"""Workflows page: the user's workflows."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.state.workflows import WorkflowsState


def _row(row: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["name"]), rx.table.cell(row["description"]),
        rx.table.cell(row["nodes"]), rx.table.cell(row["version"]), rx.table.cell(row["updated"]),
    )


def workflows_page() -> rx.Component:
    """List of workflows with their size and version."""
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Name", "Description", "Nodes", "Version", "Updated")])),
        rx.table.body(rx.foreach(WorkflowsState.rows, _row)),
        width="100%", id="workflows-table",
    )
    return page_frame(
        "Workflows",
        rx.cond(
            ~WorkflowsState.loaded,
            rx.center(rx.spinner(size="3"), padding="2em"),
            rx.cond(WorkflowsState.rows.length() > 0, table,
                    empty_state("workflow", "No workflows yet",
                                "Create one from a template to get started.")),
        ),
    )
