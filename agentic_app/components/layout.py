"""Page frame: navigation bar with the user menu (log out, API tokens), and a content area."""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.domain.accounts import MAX_TOKEN_NAME_LENGTH
from agentic_app.state.alerts import BellState
from agentic_app.state.base import AppState
from agentic_app.state.tokens import TokensState

LOGO = "/logo.svg"
"""The app's logo, served from the top-level ``assets/`` folder (as is ``/favicon.ico``)."""


def nav_link(label: str, href: str, icon: str) -> rx.Component:
    """One navigation entry."""
    return rx.link(rx.hstack(rx.icon(icon, size=16), rx.text(label), spacing="2",
                             align="center"), href=href, underline="none",
                   id=f"nav-{label.lower()}")


def tokens_dialog() -> rx.Component:
    """API tokens: list, create (shown once), revoke."""
    T = TokensState
    return rx.dialog.root(rx.dialog.content(
        rx.dialog.title("API tokens"),
        rx.dialog.description("Use a token as `Authorization: Bearer <token>` on the REST API.",
                              size="2"),
        rx.vstack(
            rx.cond(T.created_token != "", rx.callout(
                rx.vstack(rx.text("Copy it now: it is shown only once."),
                          rx.code(T.created_token, id="created-token")),
                icon="key-round", color_scheme="green", width="100%")),
            rx.hstack(rx.input(placeholder="Token name", value=T.new_name,
                               on_change=T.set_new_name, id="token-name",
                               max_length=MAX_TOKEN_NAME_LENGTH),
                      rx.button("Create", on_click=T.create, id="create-token"),
                      width="100%"),
            rx.cond(T.rows.length() > 0, rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                               ("Name", "Created", "Expires", "")])),
                rx.table.body(rx.foreach(T.rows, lambda r: rx.table.row(
                    rx.table.cell(r["name"]), rx.table.cell(r["created"]),
                    rx.table.cell(r["expires"]),
                    rx.table.cell(rx.button("Revoke", size="1", color_scheme="red",
                                            variant="soft", on_click=T.revoke(r["id"])))))),
                width="100%", id="tokens-table"),
                rx.text("No API tokens yet.", color_scheme="gray", size="2")),
            rx.hstack(rx.spacer(), rx.dialog.close(rx.button("Close", variant="soft")),
                      width="100%"),
            spacing="3", width="100%", margin_top="1em"),
        max_width="560px"), open=T.open, on_open_change=T.set_open)


def bell() -> rx.Component:
    """The bell: unread alerts, pushed live; links to the notifications page."""
    return rx.link(rx.box(
        rx.icon("bell", size=20),
        rx.cond(BellState.unread > 0, rx.badge(
            BellState.unread, color_scheme="red", variant="solid", radius="full", size="1",
            position="absolute", top="-8px", right="-12px", id="bell-count")),
        position="relative"), href=routes.NOTIFICATIONS, id="bell", aria_label="Notifications")


def navbar() -> rx.Component:
    """Top bar: product name, navigation, rq-dashboard link and user menu."""
    return rx.hstack(
        rx.link(rx.hstack(rx.image(src=LOGO, alt="agentic logo", width="28px", height="28px",
                                   id="logo"),
                          rx.heading("agentic", size="5"), spacing="2", align="center"),
                href=routes.SCHEDULER, underline="none"),
        rx.hstack(*[nav_link(*entry) for entry in routes.NAV],
                  rx.link("RQ", href=routes.RQ_DASHBOARD, is_external=True, id="nav-rq"),
                  spacing="5", align="center"),
        rx.spacer(),
        bell(),
        rx.menu.root(
            rx.menu.trigger(rx.button(rx.icon("user", size=16), AppState.username,
                                      variant="soft", id="user-menu")),
            rx.menu.content(
                rx.menu.item("API tokens", on_click=TokensState.open_tokens,
                             id="menu-tokens"),
                rx.menu.separator(),
                rx.menu.item("Log out", on_click=AppState.logout, id="logout"),
            ),
        ),
        tokens_dialog(),
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
