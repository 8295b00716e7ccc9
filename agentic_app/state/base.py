"""The base state: who is logged in.

The session token lives in the ``agentic_token`` cookie, so the backend-mounted
pages outside Reflex (rq-dashboard under /rq) can check the same session.
"""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.services import auth

SESSION_COOKIE = auth.SESSION_COOKIE


class AppState(rx.State):
    """Session of the browser tab: the token and the user it resolves to."""

    auth_token: str = rx.Cookie("", name=SESSION_COOKIE, path="/", same_site="lax",
                                max_age=int(auth.SESSION_LIFETIME.total_seconds()))
    user_id: int = 0
    username: str = ""

    def _resolve(self) -> bool:
        user = auth.user_for_token(self.auth_token)
        if user is None:
            self.user_id, self.username = 0, ""
            return False
        self.user_id, self.username = user.id, user.username
        return True

    @rx.event
    def require_login(self):
        """on_load guard: resolve the token on the server, else go to the login page."""
        if not self._resolve():
            return rx.redirect(routes.LOGIN)

    @rx.event
    def logout(self):
        """Revoke the session token and go to the login page."""
        if self.auth_token:
            auth.revoke_token(self.auth_token)
        self.auth_token = ""
        self.user_id, self.username = 0, ""
        return rx.redirect(routes.LOGIN)
