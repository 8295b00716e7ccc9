"""Portfolio (``/portfolio``): the paper account's cash, equity and P&L, its open positions,
the equity curve, orders with their executions and schedules, and alert-only orders."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.components.orders import orders_table
from agentic_app.components.widgets import error_box, loading, pager, stat_card
from agentic_app.state.portfolio import PortfolioState

P = PortfolioState
POSITION_HEADERS = ("Symbol", "Qty", "Avg price", "Mark", "Value", "Unrealized",
                    "Realized (net)", "Fees")


def _figures() -> rx.Component:
    s = P.summary
    return rx.flex(
        stat_card("Equity", s["equity"], id="pf-equity"),
        stat_card("Cash", s["cash"], id="pf-cash"),
        stat_card("Total P&L", s["total_pnl"], color=s["pnl_sign"], id="pf-total-pnl"),
        stat_card("Realized (gross)", s["realized_pnl"], id="pf-realized"),
        stat_card("Unrealized", s["unrealized_pnl"], id="pf-unrealized"),
        stat_card("Fees", s["fees"], id="pf-fees"),
        wrap="wrap", spacing="3", width="100%")


def _position_row(row) -> rx.Component:
    return rx.table.row(*[rx.table.cell(row[k]) for k in (
        "symbol", "quantity", "avg_price", "mark", "value", "unrealized", "realized", "fees")])


def _curve() -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="equity", dot=False, stroke="var(--accent-9)",
                         is_animation_active=False, name="equity"),
        rx.recharts.x_axis(data_key="t", tick_count=5, min_tick_gap=40, font_size=10),
        rx.recharts.y_axis(domain=["auto", "auto"], width=80, font_size=10),
        rx.recharts.graphing_tooltip(),
        data=P.curve, height=220, width="100%", id="equity-chart")


def portfolio_page() -> rx.Component:
    """The paper account."""
    body = rx.vstack(
        rx.hstack(rx.heading("Paper account", size="5"),
                  rx.badge(P.summary["currency"]), rx.spacer(),
                  rx.text("marked at ", P.summary["at"], " · starting cash ",
                          P.summary["starting_cash"], size="2", color_scheme="gray"),
                  rx.button(rx.icon("refresh-cw", size=14), "Refresh", size="1",
                            variant="soft", on_click=P.load_portfolio, id="pf-refresh"),
                  width="100%", align="center"),
        _figures(),
        rx.cond(P.summary["unpriced"] != "", rx.callout(
            "No current price for: " + P.summary["unpriced"], icon="triangle-alert",
            color_scheme="amber")),
        rx.cond(P.summary["truncated"] == "yes", rx.callout(
            "This account has more fills than the replay limit: only the newest are replayed "
            "from starting cash, so these figures are not its true P&L.",
            icon="triangle-alert", color_scheme="amber", id="pf-truncated")),
        rx.heading("Equity", size="4"), _curve(),
        rx.heading("Open positions", size="4"),
        rx.cond(P.positions.length() > 0, rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h)
                                           for h in POSITION_HEADERS])),
            rx.table.body(rx.foreach(P.positions, _position_row)), width="100%",
            id="positions-table"),
            rx.text("No open positions.", size="2", color_scheme="gray")),
        rx.heading("Orders", size="4"),
        rx.cond(P.orders.length() > 0, rx.vstack(
            orders_table(P.orders, "orders-table"),
            pager(P.page, P.page_count, P.total, P.prev_page, P.next_page, "orders"),
            width="100%"),
            empty_state("receipt", "No orders yet", "Orders that workflows place at the "
                        "paper broker appear here.")),
        rx.heading("Alert-only orders", size="4"),
        rx.cond(P.alert_orders.length() > 0, orders_table(P.alert_orders, "alert-orders-table"),
                rx.text("None: alert-only runs record here what they would have placed.",
                        size="2", color_scheme="gray")),
        width="100%", spacing="3")
    return page_frame("Portfolio", rx.cond(~P.loaded, loading(),
                                           rx.cond(P.error != "", error_box(P.error), body)))
