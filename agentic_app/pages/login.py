"""Login page."""

from __future__ import annotations

import reflex as rx

from agentic_app.domain.accounts import MAX_USERNAME_LENGTH
from agentic_app.state.login import LoginState


def login_page() -> rx.Component:
    """Username/password form; errors shown inline."""
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Sign in to agentic", size="6", id="page-heading"),
                    rx.input(placeholder="Username", name="username", id="username", width="100%",
                             max_length=MAX_USERNAME_LENGTH),
                    rx.input(placeholder="Password", name="password", id="password",
                             type="password", width="100%"),
                    rx.cond(LoginState.error != "",
                            rx.callout(LoginState.error, icon="triangle-alert", color_scheme="red",
                                       id="login-error")),
                    rx.button("Sign in", type="submit", width="100%", id="login-submit"),
                    rx.text("Demo: demo / demo", size="1", color_scheme="gray"),
                    spacing="3", width="320px",
                ),
                on_submit=LoginState.submit,
            ),
        ),
        height="100vh",
    )
