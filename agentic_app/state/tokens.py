"""API tokens of the logged-in user: list, create (the token is shown once), revoke."""

from __future__ import annotations

import reflex as rx

from agentic_app.domain.errors import AgenticError
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text, fmt_time
from agentic_app.state.offloop import off_loop


class TokensState(AppState):
    """The API tokens dialog of the user menu."""

    open: bool = False
    rows: list[dict[str, str]] = []
    new_name: str = ""
    created_token: str = ""

    def _load(self) -> None:
        rows, _ = app().tokens.list(self._actor(), kind="api", limit=100)
        self.rows = [{"id": str(t.id), "name": t.name, "created": fmt_time(t.created_at),
                      "expires": fmt_time(getattr(t, "expires_at", None))} for t in rows]

    @rx.event
    @off_loop
    def open_tokens(self):
        """Open the dialog with the user's API tokens."""
        if not self._resolve():
            return
        self.created_token, self.new_name, self.open = "", "", True
        self._load()

    @rx.event
    def set_open(self, value: bool):
        """Radix open/close callback."""
        self.open = value

    @rx.event
    def set_new_name(self, value: str):
        """Name of the token to create."""
        self.new_name = value

    @rx.event
    @off_loop
    def create(self):
        """Create a token and show it once."""
        if not self._resolve():
            return
        try:
            _, token = app().tokens.create(self._actor(), name=self.new_name.strip() or "api")
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self.created_token, self.new_name = token, ""
        self._load()

    @rx.event
    @off_loop
    def revoke(self, token_id: str):
        """Revoke one of the user's tokens."""
        if not self._resolve():
            return
        try:
            app().tokens.revoke(self._actor(), int(token_id))
        except AgenticError as exc:
            return rx.toast.error(error_text(exc))
        self._load()
        return rx.toast.success("Token revoked")
