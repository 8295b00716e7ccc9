"""Login page state."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentic_app import routes
from agentic_app.services import auth, login_limit
from agentic_app.state.base import AppState
from agentic_app.state.common import redis_client
from agentic_app.state.guard import open_event


def _attempt(username: str, password: str, ip: str | None) -> tuple[Any, str]:
    """Throttle check, password check (slow on purpose: argon2) and counting, like the API's
    login: (user, session token); LoginThrottledError, or ValueError on wrong credentials.
    Blocking: the handler runs it in a worker thread."""
    redis = redis_client()
    login_limit.check_allowed(redis, username=username, ip=ip)
    result = auth.login(username=username, password=password)
    if result is None:
        login_limit.record_failure(redis, username=username, ip=ip)
        raise ValueError("wrong username or password")
    login_limit.record_success(redis, username=username, ip=ip)
    return result


class LoginState(AppState):
    """Username/password form."""

    error: str = ""

    @rx.event
    @open_event
    async def submit(self, form: dict):
        """Check the credentials off the event loop (throttled like the API's login); on
        success keep the session token and open the scheduler."""
        username = (form.get("username") or "").strip()
        ip = self.router.session.client_ip or None
        try:
            user, token = await asyncio.to_thread(_attempt, username,
                                                  form.get("password") or "", ip)
        except login_limit.LoginThrottledError as exc:
            self.error = f"Too many failed attempts; try again in {exc.retry_after} s."
            return
        except ValueError:
            self.error = "Wrong username or password."
            return
        self.error = ""
        self.auth_token = token
        self.user_id, self.username = user.id, user.username
        return rx.redirect(routes.SCHEDULER)
