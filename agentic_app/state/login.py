"""Login page state."""

from __future__ import annotations

import reflex as rx

from agentic_app import routes
from agentic_app.services import auth, login_limit
from agentic_app.state.base import AppState
from agentic_app.state.common import redis_client
from agentic_app.state.guard import open_event


class LoginState(AppState):
    """Username/password form."""

    error: str = ""

    @rx.event
    @open_event
    def submit(self, form: dict):
        """Check the credentials (throttled like the API's login); on success keep the
        session token and open the scheduler."""
        username = (form.get("username") or "").strip()
        ip = self.router.session.client_ip or None
        redis = redis_client()
        try:
            login_limit.check_allowed(redis, username=username, ip=ip)
        except login_limit.LoginThrottledError as exc:
            self.error = f"Too many failed attempts; try again in {exc.retry_after} s."
            return
        result = auth.login(username=username, password=form.get("password") or "")
        if result is None:
            login_limit.record_failure(redis, username=username, ip=ip)
            self.error = "Wrong username or password."
            return
        login_limit.record_success(redis, username=username, ip=ip)
        user, token = result
        self.error = ""
        self.auth_token = token
        self.user_id, self.username = user.id, user.username
        return rx.redirect(routes.SCHEDULER)
