"""The backtest panel of the schedule dialog: price chart with the would-be fires marked, the
indicator below, the count and the window picker."""

from __future__ import annotations

import reflex as rx

from agentic_app.state.backtest import DAY_CHOICES, BacktestState

B = BacktestState


def backtest_panel(indicator: rx.Var, show_indicator: rx.Var) -> rx.Component:
    """The panel; ``indicator`` names the value line, shown when ``show_indicator``."""
    price_chart = rx.recharts.line_chart(
        rx.recharts.line(data_key="close", dot=False, stroke="var(--accent-9)",
                         is_animation_active=False, name="close"),
        rx.recharts.line(data_key="fire", stroke="transparent", name="would fire",
                         dot={"r": 4, "fill": "var(--red-9)", "stroke": "var(--red-9)"},
                         is_animation_active=False),
        rx.recharts.x_axis(data_key="t", tick_count=4, min_tick_gap=40, font_size=10),
        rx.recharts.y_axis(domain=["auto", "auto"], width=70, font_size=10),
        rx.recharts.graphing_tooltip(),
        data=B.points, height=170, width="100%",
    )
    value_chart = rx.recharts.line_chart(
        rx.recharts.line(data_key="value", dot=False, stroke="var(--violet-9)",
                         is_animation_active=False, name=indicator),
        rx.recharts.x_axis(data_key="t", hide=True),
        rx.recharts.y_axis(domain=["auto", "auto"], width=70, font_size=10),
        rx.recharts.graphing_tooltip(),
        data=B.points, height=90, width="100%",
    )
    header = rx.hstack(
        rx.text("Backtest: it ", rx.cond(B.summary != "", B.summary, "…"), size="1",
                color_scheme="gray", id="chart-fires"),
        rx.spacer(),
        rx.cond(B.running, rx.spinner(size="1")),
        rx.select(DAY_CHOICES, value=B.days, on_change=B.set_days, size="1",
                  id="backtest-days"),
        rx.text("days", size="1", color_scheme="gray"),
        width="100%", align="center", spacing="2",
    )
    return rx.vstack(
        header,
        rx.cond(B.error != "", rx.text(B.error, size="1", color_scheme="red",
                                       id="backtest-error")),
        rx.cond(B.points.length() > 0, rx.vstack(
            price_chart, rx.cond(show_indicator, value_chart),
            width="100%", spacing="1", id="condition-chart")),
        width="100%", spacing="1",
    )
