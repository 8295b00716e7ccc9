"""Broker page: the kill switch, exchange credentials (masked), safety limits, live orders."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.widgets import error_box, status_badge
from agentic_app.state.broker import BrokerState

B = BrokerState


def _kill_switch() -> rx.Component:
    confirm = rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(rx.icon("octagon-x"), "Kill switch", color_scheme="red",
                                          size="3", id="kill-switch")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Stop all automated trading?"),
            rx.alert_dialog.description(
                "Every schedule is paused, queued runs and open paper and live orders are "
                "cancelled; no run starts and no order is placed until you re-arm."),
            rx.form(rx.vstack(
                rx.input(name="reason", placeholder="Reason (optional)", max_length=500,
                         width="100%", id="kill-reason"),
                rx.hstack(rx.alert_dialog.cancel(rx.button("Back", variant="soft",
                                                           color_scheme="gray")),
                          rx.button("Stop trading", type="submit", color_scheme="red",
                                    id="kill-confirm"), justify="end", width="100%"),
                spacing="3"), on_submit=B.engage, reset_on_submit=True),
        ),
        open=B.confirm_open, on_open_change=B.set_confirm_open,
    )
    return rx.card(rx.hstack(
        rx.vstack(rx.hstack(rx.text("Kill switch", weight="bold"),
                            rx.cond(B.engaged, rx.badge("ENGAGED", color_scheme="red",
                                                        id="halt-badge"),
                                    rx.badge("armed", color_scheme="green", id="halt-badge"))),
                  rx.text(B.halt_text, size="2", id="halt-text"),
                  rx.text(B.report_text, size="1", color_scheme="gray", id="halt-report"),
                  spacing="1"),
        rx.spacer(),
        rx.cond(B.engaged, rx.button("Re-arm", on_click=B.rearm, variant="soft", id="rearm"),
                confirm),
        width="100%", align="center"), width="100%")


def _credential_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["exchange"]), rx.table.cell(row["label"]),
        rx.table.cell(rx.badge(row["mode"])), rx.table.cell(rx.code(row["key_hint"])),
        rx.table.cell(row["created"]),
        rx.table.cell(rx.button("Delete", size="1", variant="soft", color_scheme="red",
                                on_click=B.delete_credential(row["id"]),
                                id="delete-credential-" + row["id"])),
        id="credential-row-" + row["id"])


def _credentials() -> rx.Component:
    form = rx.form(rx.hstack(
        rx.select(["binance"], default_value="binance", name="exchange", size="2"),
        rx.input(name="api_key", placeholder="API key", max_length=256, id="api-key"),
        rx.input(name="secret", placeholder="Secret", type="password", max_length=256,
                 id="api-secret"),
        rx.input(name="label", placeholder="Label", max_length=100, id="api-label"),
        rx.button("Add", type="submit", id="add-credential"), spacing="2", wrap="wrap"),
        on_submit=B.add_credential, reset_on_submit=True)
    return rx.card(rx.vstack(
        rx.text("Exchange credentials", weight="bold"),
        rx.text("Stored encrypted; the key and secret are never shown again. Sandbox/testnet "
                "keys only unless the server allows mainnet.", size="1", color_scheme="gray"),
        rx.cond(B.credentials.length() > 0,
                rx.table.root(rx.table.header(rx.table.row(*[
                    rx.table.column_header_cell(h) for h in (
                        "Exchange", "Label", "Mode", "Key", "Added", "")])),
                    rx.table.body(rx.foreach(B.credentials, _credential_row)), width="100%",
                    id="credentials-table"),
                rx.text("No credential yet.", size="2", color_scheme="gray")),
        form, width="100%", spacing="2"), width="100%")


def _limit_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["label"]), rx.table.cell(row["default"]),
        rx.table.cell(rx.input(name=row["name"], default_value=row["override"],
                               placeholder="default", max_length=32, size="1",
                               id="limit-" + row["name"])),
        rx.table.cell(row["effective"], id="effective-" + row["name"]))


def _limits() -> rx.Component:
    return rx.card(rx.form(rx.vstack(
        rx.hstack(rx.text("Safety limits", weight="bold"), rx.spacer(),
                  rx.text(B.today, size="1", color_scheme="gray", id="limits-today"),
                  width="100%"),
        rx.text("Checked before every live order. Your values may only tighten the defaults.",
                size="1", color_scheme="gray"),
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "Limit", "Default", "Yours", "In force")])),
            rx.table.body(rx.foreach(B.limits, _limit_row)), width="100%"),
        rx.button("Save limits", type="submit", size="2", id="save-limits"),
        width="100%", spacing="2"), on_submit=B.save_limits), width="100%")


def _order_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["id"]), rx.table.cell(row["created"]), rx.table.cell(row["exchange"]),
        rx.table.cell(row["symbol"]), rx.table.cell(row["side"] + " " + row["type"]),
        rx.table.cell(row["quantity"]), rx.table.cell(row["filled"]),
        rx.table.cell(row["price"]), rx.table.cell(status_badge(row["status"])),
        rx.table.cell(rx.cond(row["execution_id"] != "",
                              rx.link("#" + row["execution_id"],
                                      href="/monitor/" + row["execution_id"]), "—")),
        rx.table.cell(rx.text(row["reason"], size="1", color_scheme="red")),
        rx.table.cell(rx.cond((row["status"] == "open") | (row["status"] == "partially_filled"),
                              rx.button("Cancel", size="1", variant="soft",
                                        on_click=B.cancel_order(row["id"]),
                                        id="cancel-order-" + row["id"]))),
        id="order-row-" + row["id"])


def _orders() -> rx.Component:
    return rx.cond(
        B.orders.length() > 0,
        rx.table.root(rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
            "#", "Created", "Exchange", "Symbol", "Order", "Qty", "Filled", "Price", "Status",
            "Execution", "Reason", "")])),
            rx.table.body(rx.foreach(B.orders, _order_row)), width="100%", id="orders-table"),
        empty_state("landmark", "No live order yet",
                    "Set an order node's broker to an exchange to trade on your account."))


def broker_page() -> rx.Component:
    """Kill switch, credentials, limits and the live orders (refusals with their reason)."""
    return page_frame(
        "Broker",
        rx.cond(B.error != "", error_box(B.error)),
        _kill_switch(), _credentials(), _limits(),
        rx.heading("Live orders", size="4"), _orders(),
    )
