"""The notifications page's Reflex events through the real WebSocket of a running app: a
user cannot read, mark or delete another user's entries or channels, and an oversized or
loopback channel URL is refused with a message naming the field, nothing created."""

from __future__ import annotations

import asyncio
import json

from agentic_app.domain.alerts import MAX_CHANNEL_URL
from agentic_app.services.app import Actor
from agentic_app.state.alerts import BellState, NotificationsState
from tests.security.conftest import Account, create_account
from tests.security.reflex_client import ReflexClient, event_name

N = NotificationsState


def _services(app, username: str):
    services = app.services()
    return services, Actor(services.users.by_name(username).id, username)


def test_other_users_entries_and_channels_untouchable(reflex_app, account: Account) -> None:
    """Marking another user's entry read, or disabling/deleting/testing their channel, from
    one's own tab: refused as not found, their data unchanged and never shown."""
    other = create_account(reflex_app)
    services, victim = _services(reflex_app, other.username)
    note = services.alerts.emit(victim, "order_filled", "victim secret order")
    channel = services.alerts.channels.create(victim, name="victim hook",
                                              url="json://93.184.216.34/victim")

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/notifications") as tab:
            await tab.wait_for(lambda: tab.var(BellState, "watching"), 30, "bell watcher")
            mark = await tab.emit(event_name(N.mark_read), {"notification_id": str(note)})
            for handler, payload in ((N.toggle_channel, {"channel_id": str(channel["id"]),
                                                         "enabled": False}),
                                     (N.delete_channel, {"channel_id": str(channel["id"])}),
                                     (N.test_channel, {"channel_id": str(channel["id"])})):
                await tab.emit(event_name(handler), payload)
            snap = (await tab.snapshot())[N.get_full_name()]
            said = json.dumps(tab.events_since(mark))
            assert said.count("not found") >= 4
            assert "victim" not in json.dumps(snap)

    asyncio.run(scenario())
    assert services.alerts.unread_count(victim) == 1
    kept = services.alerts.channels.get(victim, channel["id"])
    assert kept["enabled"] and kept["last_status"] is None


def test_oversized_and_loopback_urls_refused(reflex_app, account: Account) -> None:
    """A channel URL over MAX_CHANNEL_URL characters, or to loopback, is refused naming the
    problem; nothing is created."""
    services, me = _services(reflex_app, account.username)

    async def scenario() -> None:
        async with ReflexClient(reflex_app.backend, auth_token=account.token,
                                path="/notifications") as tab:
            await tab.wait_for(lambda: tab.var(BellState, "watching"), 30, "bell watcher")
            await tab.emit(event_name(N.set_new_name), {"value": "big"})
            for url, expected in (("json://93.184.216.34/" + "a" * MAX_CHANNEL_URL,
                                   f"1 to {MAX_CHANNEL_URL} characters"),
                                  ("json://127.0.0.1:6379/x", "refused: target not allowed")):
                await tab.emit(event_name(N.set_new_url), {"value": url})
                await tab.emit(event_name(N.create_channel), {})
                await tab.wait_for(lambda e=expected: e in str(tab.var(N, "form_error")), 30,
                                   "the refusal")

    asyncio.run(scenario())
    assert services.alerts.channels.list(me) == []
