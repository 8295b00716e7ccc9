"""Order tables: orders with links to their execution and schedule, and would-be orders of
alert-only runs."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.widgets import alert_only_badge, status_badge
from agentic_app.state.portfolio import ExecutionOrdersState

HEADERS = ("Order", "Symbol", "Side", "Type", "Qty", "Price", "Fee", "Status", "Fills",
           "Execution", "Schedule", "Created")


def order_row(row) -> rx.Component:
    """One order; its execution and schedule are links."""
    return rx.table.row(
        rx.table.cell("#" + row["id"]), rx.table.cell(row["symbol"]), rx.table.cell(row["side"]),
        rx.table.cell(row["type"]), rx.table.cell(row["quantity"]), rx.table.cell(row["price"]),
        rx.table.cell(row["fee"]), rx.table.cell(status_badge(row["status"])),
        rx.table.cell(row["fills"]),
        rx.table.cell(rx.cond(row["execution_id"] != "", rx.link(
            "#" + row["execution_id"], href="/monitor/" + row["execution_id"]), "—")),
        rx.table.cell(rx.cond(row["schedule_id"] != "", rx.link(
            "job " + row["schedule_id"], href="/scheduler/" + row["schedule_id"]), "—")),
        rx.table.cell(row["created"]),
    )


def orders_table(rows, id: str) -> rx.Component:
    """A table of order rows (see :func:`order_row`)."""
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in HEADERS])),
        rx.table.body(rx.foreach(rows, order_row)), width="100%", id=id, size="1")


def execution_orders() -> rx.Component:
    """What the execution on the page placed, or as alert-only would have placed."""
    X = ExecutionOrdersState
    return rx.vstack(
        rx.hstack(rx.heading("Orders", size="4"),
                  alert_only_badge(rx.cond(X.alert_only, "yes", "")), align="center"),
        rx.cond(X.orders.length() > 0, orders_table(X.orders, "execution-orders"),
                rx.cond(X.alert_orders.length() == 0,
                        rx.text("No orders placed.", size="2", color_scheme="gray"))),
        rx.cond(X.alert_orders.length() > 0, rx.vstack(
            rx.text("Alert-only: sent as alerts, nothing traded.", size="2"),
            orders_table(X.alert_orders, "execution-alert-orders"), width="100%")),
        width="100%", spacing="2")
