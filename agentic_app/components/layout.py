"""Page frame: navigation bar with the user menu, and a content area."""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.state.base import AppState


def nav_link(label: str, href: str, icon: str) -> rx.Component:
    """One navigation entry."""
    return rx.link(rx.hstack(rx.icon(icon, size=16), rx.text(label), spacing="2",
                             align="center"), href=href, underline="none",
                   id=f"nav-{label.lower()}")


def navbar() -> rx.Component:
    """Top bar: product name, navigation, rq-dashboard link and user menu."""
    return rx.hstack(
        rx.link(rx.heading("agentic", size="5"), href=routes.SCHEDULER, underline="none"),
        rx.hstack(*[nav_link(*entry) for entry in routes.NAV],
                  rx.link("RQ", href=routes.RQ_DASHBOARD, is_external=True, id="nav-rq"),
                  spacing="5", align="center"),
        rx.spacer(),
        rx.menu.root(
            rx.menu.trigger(rx.button(rx.icon("user", size=16), AppState.username,
                                      variant="soft", id="user-menu")),
            rx.menu.content(
                rx.menu.item("Log out", on_click=AppState.logout, id="logout"),
            ),
        ),
        padding="0.75em 1.5em",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
        align="center",
        spacing="6",
    )


def empty_state(icon: str, title: str, hint: str) -> rx.Component:
    """A designed empty state: icon, title and what to do next."""
    return rx.center(
        rx.vstack(rx.icon(icon, size=40, color="var(--gray-9)"), rx.heading(title, size="4"),
                  rx.text(hint, color_scheme="gray"), align="center", spacing="2"),
        padding="3em", width="100%", border="1px dashed var(--gray-a6)", border_radius="12px",
    )


def page_frame(title: str, *children: rx.Component) -> rx.Component:
    """Navigation plus a titled content column."""
    return rx.vstack(
        navbar(),
        rx.vstack(rx.heading(title, size="7", id="page-heading"), *children,
                  padding="1.5em", width="100%", max_width="1200px", spacing="4"),
        width="100%", align="center", spacing="0",
    )
