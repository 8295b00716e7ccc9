"""The base state: who is logged in (checked for every event by state/guard.py).

The session token lives in the ``agentic_token`` cookie, so the backend-mounted
pages outside Reflex (rq-dashboard under /rq) can check the same session.
"""

from __future__ import annotations

import asyncio

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
        """Whether the tab is signed in. The session guard (state/guard.py) checked the token
        and set the user before this event's handler started; no lookup here."""
        return self.user_id > 0

    def _sign_out(self) -> None:
        """Forget the tab's session: the token (the cookie follows with the next delta) and
        the user."""
        if self.auth_token:
            self.auth_token = ""
        if self.user_id or self.username:
            self.user_id, self.username = 0, ""

    @rx.event
    async def logout(self):
        """Revoke the session token and go to the login page."""
        if self.auth_token:
            await asyncio.to_thread(auth.revoke_token, self.auth_token)
        self._sign_out()
        return rx.redirect(routes.LOGIN)
