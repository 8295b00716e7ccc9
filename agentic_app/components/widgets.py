"""Small stateless pieces: status badges, pagination bar, loading/error states, code boxes."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = {
    "pending": "gray", "running": "blue", "completed": "green", "succeeded": "green",
    "failed": "red", "cancelled": "orange", "skipped": "gray", "active": "green",
    "paused": "amber", "auto-paused": "red", "missed": "amber",
    "new": "gray", "open": "blue", "partially_filled": "blue", "filled": "green",
    "rejected": "red",
}
"""Badge colour per status."""


def status_badge(status, **props) -> rx.Component:
    """A coloured badge for any execution, node, job or schedule status."""
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color, variant="soft", **props))
          for name, color in STATUS_COLORS.items()],
        rx.badge(status, variant="outline", **props),
    )


def pager(page, page_count, total, on_prev, on_next, id_prefix: str) -> rx.Component:
    """Previous / next buttons with "page X of Y · N rows"."""
    return rx.hstack(
        rx.text("Page ", page, " of ", page_count, " · ", total, " rows", size="2",
                color_scheme="gray", id=f"{id_prefix}-page-info"),
        rx.spacer(),
        rx.button(rx.icon("chevron-left", size=14), "Previous", variant="soft", size="1",
                  on_click=on_prev, disabled=page <= 1, id=f"{id_prefix}-prev"),
        rx.button("Next", rx.icon("chevron-right", size=14), variant="soft", size="1",
                  on_click=on_next, disabled=page >= page_count, id=f"{id_prefix}-next"),
        width="100%", align="center",
    )


def loading() -> rx.Component:
    """A centred spinner."""
    return rx.center(rx.spinner(size="3"), padding="2em", width="100%")


def error_box(message, id: str = "error-box") -> rx.Component:
    """A red callout for a load error."""
    return rx.callout(message, icon="triangle-alert", color_scheme="red", id=id, width="100%")


def code_box(text, id: str | None = None) -> rx.Component:
    """Monospace, pre-formatted text with a copy button."""
    return rx.box(
        rx.el.pre(text, style={"margin": 0, "white_space": "pre-wrap",
                                "word_break": "break-all", "font_size": "12px"}),
        rx.icon_button(rx.icon("copy", size=14), size="1", variant="ghost",
                       on_click=[rx.set_clipboard(text), rx.toast.info("Copied")],
                       position="absolute", top="6px", right="6px"),
        position="relative", padding="10px 36px 10px 10px", background="var(--gray-a3)",
        border_radius="8px", width="100%", id=id,
    )


def stat_card(label: str, value, color: str = "gray", id: str | None = None) -> rx.Component:
    """A figure with its label."""
    return rx.card(rx.vstack(rx.text(label, size="1", color_scheme="gray"),
                             rx.heading(value, size="6", color_scheme=color), spacing="1"),
                   min_width="120px", id=id)


def alert_only_badge(text, id: str | None = None) -> rx.Component:
    """An amber "alert-only" badge where ``text`` is non-empty (a run that traded nothing)."""
    return rx.cond(text != "", rx.badge(rx.icon("bell-ring", size=12), "alert-only",
                                        color_scheme="amber", variant="solid", id=id))
