"""Login page state."""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.services import auth
from agentic_app.state.base import AppState


class LoginState(AppState):
    """Username/password form."""

    error: str = ""

    @rx.event
    def submit(self, form: dict):
        """Check the credentials; on success keep the session token and open the scheduler."""
        result = auth.login(username=(form.get("username") or "").strip(),
                            password=form.get("password") or "")
        if result is None:
            self.error = "Wrong username or password."
            return
        user, token = result
        self.error = ""
        self.auth_token = token
        self.user_id, self.username = user.id, user.username
        return rx.redirect(routes.SCHEDULER)
