"""The notifications page: the inbox (newest first, unread filter, mark read) and the
user's channels (add with rules, enable/disable, send test, delete; URLs shown masked)."""

from __future__ import annotations

import reflex as rx

from agentic_app.components.layout import empty_state, page_frame
from agentic_app.domain.alerts import MAX_CHANNEL_NAME, MAX_CHANNEL_URL
from agentic_app.state.alerts import NotificationsState as N


def inbox_row(r: rx.Var) -> rx.Component:
    """One inbox entry."""
    return rx.table.row(
        rx.table.cell(rx.badge(r["kind"], color_scheme=rx.match(
            r["level"], ("error", "red"), ("warning", "amber"), "blue"))),
        rx.table.cell(rx.vstack(
            rx.text(r["title"], weight=rx.cond(r["read"], "regular", "bold")),
            rx.text(r["body"], size="1", color_scheme="gray"), spacing="1")),
        rx.table.cell(r["created"]),
        rx.table.cell(rx.text(r["deliveries"], size="1")),
        rx.table.cell(rx.cond(r["read"], rx.text("read", size="1", color_scheme="gray"),
                              rx.button("Mark read", size="1", variant="soft",
                                        on_click=N.mark_read(r["id"]),
                                        class_name="mark-read"))),
        class_name="inbox-row")


def inbox() -> rx.Component:
    """The inbox card."""
    return rx.card(rx.vstack(
        rx.hstack(rx.heading("Inbox", size="4"), rx.spacer(),
                  rx.hstack(rx.switch(checked=N.unread_only, on_change=N.set_unread_only,
                                      id="unread-only"), rx.text("Unread only", size="2"),
                            align="center"),
                  rx.button("Mark all read", variant="soft", on_click=N.mark_all_read,
                            id="mark-all-read"), width="100%", align="center"),
        rx.cond(N.rows.length() > 0, rx.vstack(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                               ("Kind", "Alert", "When", "Delivered", "")])),
                rx.table.body(rx.foreach(N.rows, inbox_row)), width="100%", id="inbox-table"),
            rx.hstack(rx.button("Previous", size="1", variant="soft", on_click=N.go_page(-1),
                                disabled=N.page <= 1),
                      rx.text(N.page, " / ", N.page_count, size="2"),
                      rx.button("Next", size="1", variant="soft", on_click=N.go_page(1),
                                disabled=N.page >= N.page_count), align="center"),
            width="100%"),
            empty_state("bell", "No alerts", "Failures, pauses, missed runs and order events "
                                             "of your automation show up here.")),
        width="100%", spacing="3"), width="100%")


def channel_row(c: rx.Var) -> rx.Component:
    """One channel with its last outcome and actions."""
    return rx.table.row(
        rx.table.cell(rx.text(c["name"], weight="bold")),
        rx.table.cell(rx.code(c["url"])),
        rx.table.cell(rx.text(c["kinds"], size="1")),
        rx.table.cell(rx.vstack(rx.badge(c["status"], color_scheme=rx.match(
            c["status"], ("ok", "green"), ("failed", "red"), ("retrying", "amber"), "gray")),
            rx.text(c["error"], size="1", color_scheme="red"), rx.text(c["last"], size="1"),
            spacing="1")),
        rx.table.cell(rx.hstack(
            rx.switch(checked=c["enabled"], on_change=lambda v: N.toggle_channel(c["id"], v)),
            rx.button("Send test", size="1", variant="soft", on_click=N.test_channel(c["id"]),
                      class_name="test-channel"),
            rx.button("Delete", size="1", variant="soft", color_scheme="red",
                      on_click=N.delete_channel(c["id"])), align="center")),
        class_name="channel-row")


def channel_form() -> rx.Component:
    """Add a channel: name, apprise URL, which alert kinds go to it."""
    return rx.vstack(
        rx.hstack(
            rx.input(placeholder="Name", value=N.new_name, on_change=N.set_new_name,
                     max_length=MAX_CHANNEL_NAME, id="channel-name"),
            rx.input(placeholder="apprise URL, e.g. json://hooks.example.com/alerts",
                     value=N.new_url, on_change=N.set_new_url, max_length=MAX_CHANNEL_URL,
                     id="channel-url", width="100%"),
            rx.button("Add channel", on_click=N.create_channel, id="add-channel"),
            width="100%"),
        rx.flex(rx.foreach(N.kind_options, lambda k: rx.checkbox(
            k["label"], checked=N.new_kinds.contains(k["name"]),
            on_change=lambda v: N.toggle_kind(k["name"], v), size="1")),
            wrap="wrap", spacing="3"),
        rx.cond(N.form_error != "", rx.callout(N.form_error, icon="triangle-alert",
                                               color_scheme="red", id="channel-error")),
        width="100%", spacing="2")


def channels() -> rx.Component:
    """The channels card."""
    return rx.card(rx.vstack(
        rx.heading("Channels", size="4"),
        rx.text("Where alerts go (apprise URLs: web hooks, mail, chat). URLs are shown "
                "masked; targets on private networks are refused.", size="2",
                color_scheme="gray"),
        channel_form(),
        rx.cond(N.channels.length() > 0, rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Name", "URL", "Alerts", "Last delivery", "")])),
            rx.table.body(rx.foreach(N.channels, channel_row)), width="100%",
            id="channels-table"),
            rx.text("No channels yet: alerts stay in the inbox.", size="2",
                    color_scheme="gray")),
        width="100%", spacing="3"), width="100%")


def notifications_page() -> rx.Component:
    """Inbox and channels."""
    return page_frame("Notifications", inbox(), channels())
