"""Login page state."""

from __future__ import annotations

import asyncio

import reflex as rx

from agentic_app import routes
from agentic_app.services.app import AgenticError, AuthenticationError, LoginThrottledError
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text
from agentic_app.state.guard import open_event


class LoginState(AppState):
    """Username/password form."""

    error: str = ""

    @rx.event
    @open_event
    async def submit(self, form: dict):
        """Check the credentials off the event loop (the facade's login: throttled, argon2
        on purpose slow); on success keep the session token and open the scheduler."""
        try:
            session = await asyncio.to_thread(
                app().auth.login, username=(form.get("username") or "").strip(),
                password=form.get("password") or "", ip=self.router.session.client_ip or None)
        except LoginThrottledError as exc:
            self.error = f"Too many failed attempts; try again in {exc.retry_after} s."
            return
        except AuthenticationError:
            self.error = "Wrong username or password."
            return
        except AgenticError as exc:
            self.error = error_text(exc)
            return
        self.error = ""
        self.auth_token = session.token
        self._set_actor(session.actor)
        return rx.redirect(routes.SCHEDULER)
