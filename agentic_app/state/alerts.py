"""Alerts in the UI: the bell's unread count (pushed live: one background task per tab
follows the user's inbox channel through the facade, no polling) and the notifications page
(inbox, mark read, channels with their rules and a "send test" action). Every action here
is also a REST route (docs/API.md)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from agentic_app.domain.alerts import ALERT_KINDS, MAX_CHANNEL_NAME, MAX_CHANNEL_URL, RULE_KINDS
from agentic_app.services.app import AgenticError
from agentic_app.state.base import AppState
from agentic_app.state.common import PAGE_SIZE, app, error_text, fmt_time, pages
from agentic_app.state.live import Presence, batches
from agentic_app.state.offloop import off_loop

_BELLS: set[str] = set()
"""Client tokens whose bell watcher runs in this process."""
KIND_OPTIONS = [{"name": k, "label": ALERT_KINDS[k].label} for k in RULE_KINDS]
"""The kinds a channel can route, for the form's checkboxes."""


class BellState(AppState):
    """The navigation bar's bell: how many alerts are unread."""

    unread: int = 0
    watching: bool = False

    @rx.event
    def start_bell(self):
        """Start this tab's unread watcher unless it already runs."""
        if self._resolve() and self.router.session.client_token not in _BELLS:
            return BellState.watch_unread

    @rx.event(background=True)
    async def watch_unread(self):
        """Follow the user's unread count: the facade pushes it whenever the inbox changes
        (a new alert, mark read in any tab or over REST). Ends when the tab is gone or
        signed out; runs once per tab."""
        async with self:
            token = self.router.session.client_token
            if not self._resolve() or token in _BELLS:
                return
            _BELLS.add(token)
            actor, session_token = self._actor(), self.auth_token
            self.watching = True
        presence = Presence(token, session_token)
        try:
            async for batch in batches(app().alerts.watch_unread(actor)):
                if await presence.gone_everywhere():
                    return
                if not batch:
                    continue
                async with self:
                    if self.user_id != actor.id:
                        return
                    if self.unread != batch[-1]:
                        self.unread = batch[-1]
        finally:
            _BELLS.discard(token)
            async with self:
                self.watching = False


def _row(item: dict[str, Any]) -> dict[str, Any]:
    deliveries = ", ".join(f"{d['channel']}: {d['status']}" for d in item["deliveries"])
    return {"id": str(item["id"]), "title": item["title"], "body": item["body"],
            "kind": ALERT_KINDS[item["kind"]].label if item["kind"] in ALERT_KINDS
            else item["kind"], "level": item["level"], "read": bool(item["read"]),
            "created": fmt_time(item["created_at"], seconds=True),
            "deliveries": deliveries or "in-app only",
            "execution_id": str(item["execution_id"] or ""),
            "scheduled_job_id": str(item["scheduled_job_id"] or "")}


def _channel_row(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(c["id"]), "name": c["name"], "url": c["url_masked"],
            "enabled": bool(c["enabled"]),
            "kinds": ", ".join(ALERT_KINDS[k].label for k in c["kinds"] if k in ALERT_KINDS),
            "status": c["last_status"] or "—", "error": c["last_error"] or "",
            "last": fmt_time(c["last_attempt_at"], seconds=True)}


class NotificationsState(AppState):
    """The notifications page: the inbox and the user's channels."""

    rows: list[dict[str, Any]] = []
    total: int = 0
    page: int = 1
    unread_only: bool = False
    channels: list[dict[str, Any]] = []
    new_name: str = ""
    new_url: str = ""
    new_kinds: list[str] = list(RULE_KINDS)
    form_error: str = ""

    @rx.var
    def page_count(self) -> int:
        """Pages of the inbox."""
        return pages(self.total)

    @rx.var
    def kind_options(self) -> list[dict[str, str]]:
        """The kinds a channel can route."""
        return KIND_OPTIONS

    def _load(self) -> None:
        services, actor = app(), self._actor()
        items, total = services.alerts.inbox(actor, unread_only=self.unread_only,
                                             offset=(self.page - 1) * PAGE_SIZE,
                                             limit=PAGE_SIZE)
        self.rows, self.total = [_row(i) for i in items], total
        self.channels = [_channel_row(c) for c in services.alerts.channels.list(actor)]

    @rx.event
    @off_loop
    def load(self):
        """Read the inbox page and the channels."""
        if self._resolve():
            self._load()

    @rx.event
    @off_loop
    def set_unread_only(self, value: bool):
        """Show only unread entries (or all)."""
        if self._resolve():
            self.unread_only, self.page = bool(value), 1
            self._load()

    @rx.event
    @off_loop
    def go_page(self, delta: int):
        """Previous (-1) or next (+1) inbox page."""
        if self._resolve():
            self.page = min(max(1, self.page + int(delta)), self.page_count)
            self._load()

    @rx.event
    @off_loop
    def mark_read(self, notification_id: str):
        """Mark one entry read."""
        if not self._resolve():
            return
        try:
            app().alerts.mark_read(self._actor(), int(notification_id))
        except (AgenticError, ValueError) as exc:
            return rx.toast.error(error_text(exc))
        self._load()

    @rx.event
    @off_loop
    def mark_all_read(self):
        """Mark every entry read."""
        if not self._resolve():
            return
        count = app().alerts.mark_all_read(self._actor())
        self._load()
        return rx.toast.success(f"{count} marked read")

    @rx.event
    def set_new_name(self, value: str):
        """Name of the channel to add (refused past its limit, before any work)."""
        if len(value) > MAX_CHANNEL_NAME:
            self.form_error = f"name must be 1 to {MAX_CHANNEL_NAME} characters"
            return
        self.new_name = value

    @rx.event
    def set_new_url(self, value: str):
        """Apprise URL of the channel to add (refused past its limit, before any work)."""
        if len(value) > MAX_CHANNEL_URL:
            self.form_error = f"url must be 1 to {MAX_CHANNEL_URL} characters"
            return
        self.new_url = value

    @rx.event
    def toggle_kind(self, kind: str, checked: bool):
        """Route ``kind`` to the new channel, or not."""
        if kind not in RULE_KINDS:
            return
        chosen = set(self.new_kinds) | {kind} if checked else set(self.new_kinds) - {kind}
        self.new_kinds = [k for k in RULE_KINDS if k in chosen]

    @rx.event
    @off_loop
    def create_channel(self):
        """Add the channel of the form (its URL checked by the outbound policy)."""
        if not self._resolve():
            return
        try:
            app().alerts.channels.create(self._actor(), name=self.new_name, url=self.new_url,
                                         kinds=self.new_kinds)
        except AgenticError as exc:
            self.form_error = error_text(exc)
            return
        self.new_name, self.new_url, self.form_error = "", "", ""
        self.new_kinds = list(RULE_KINDS)
        self._load()
        return rx.toast.success("Channel added")

    @rx.event
    @off_loop
    def toggle_channel(self, channel_id: str, enabled: bool):
        """Enable or disable a channel."""
        return self._channel_action(lambda s, a, i: s.update(a, i, enabled=bool(enabled)),
                                    channel_id)

    @rx.event
    @off_loop
    def delete_channel(self, channel_id: str):
        """Delete a channel."""
        return self._channel_action(lambda s, a, i: s.delete(a, i), channel_id,
                                    "Channel deleted")

    @rx.event
    @off_loop
    def test_channel(self, channel_id: str):
        """Send a test message now; the outcome shows on the channel."""
        if not self._resolve():
            return
        try:
            result = app().alerts.channels.test(self._actor(), int(channel_id))
        except (AgenticError, ValueError) as exc:
            return rx.toast.error(error_text(exc))
        self._load()
        if result["ok"]:
            return rx.toast.success("Test message sent")
        return rx.toast.error(f"Test failed: {result['error']}")

    def _channel_action(self, action: Any, channel_id: str, done: str = "") -> Any:
        if not self._resolve():
            return None
        try:
            action(app().alerts.channels, self._actor(), int(channel_id))
        except (AgenticError, ValueError) as exc:
            return rx.toast.error(error_text(exc))
        self._load()
        return rx.toast.success(done) if done else None

