"""The base state: who is logged in (checked for every event by state/guard.py).

The session token lives in the ``agentic_token`` cookie, so the backend-mounted
pages outside Reflex (rq-dashboard under /rq) can check the same session.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from agentic_app import routes
from agentic_app.services.app import SESSION_COOKIE, SESSION_LIFETIME, Actor
from agentic_app.state.common import app


class AppState(rx.State):
    """Session of the browser tab: the token and the user it resolves to."""

    auth_token: str = rx.Cookie("", name=SESSION_COOKIE, path="/", same_site="lax",
                                max_age=int(SESSION_LIFETIME.total_seconds()))
    user_id: int = 0
    username: str = ""
    is_admin: bool = False

    def _resolve(self) -> bool:
        """Whether the tab is signed in. The session guard (state/guard.py) checked the token
        and set the user before this event's handler started; no lookup here."""
        return self.user_id > 0

    def _set_actor(self, actor: Actor) -> None:
        """Make ``actor`` the tab's user (only the vars that change, so only they are sent)."""
        if self.user_id != actor.id:
            self.user_id = actor.id
        if self.username != actor.username:
            self.username = actor.username
        if self.is_admin != actor.is_admin:
            self.is_admin = actor.is_admin

    def _actor(self) -> Actor:
        """The tab's user, as the facade's methods take it."""
        return Actor(id=self.user_id, username=self.username, is_admin=self.is_admin)

    def _sign_out(self) -> None:
        """Forget the tab's session: the token (the cookie follows with the next delta) and
        the user."""
        if self.auth_token:
            self.auth_token = ""
        if self.user_id or self.username or self.is_admin:
            self.user_id, self.username, self.is_admin = 0, "", False

    @rx.event
    async def logout(self):
        """Revoke the session token and go to the login page."""
        if self.auth_token:
            await asyncio.to_thread(app().auth.logout, self.auth_token)
        self._sign_out()
        return rx.redirect(routes.LOGIN)
