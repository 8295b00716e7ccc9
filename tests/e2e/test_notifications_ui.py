"""Browser: the bell's unread count is pushed live, the notifications page lists the inbox and
marks entries read, and channels are added (URL masked) or refused (loopback), in Chromium
against a real `reflex run`."""

from __future__ import annotations

import time

import pytest

from agentic_app.services.app import Actor
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


def _bell_count(page) -> int:
    badge = page.locator("#bell-count")
    return int(badge.inner_text()) if badge.count() else 0


def _bell_shows(page, expected, timeout_s: float = 15.0) -> bool:
    """Wait (bounded) until the bell shows ``expected()`` unread (no badge for 0); asked
    again each round, since the demo's schedules may add alerts meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _bell_count(page) == expected():
            return True
        page.wait_for_timeout(200)
    return False


def test_bell_live_inbox_and_mark_read(running_app, page):
    """An alert emitted elsewhere raises the bell's count without a reload; marking it read
    on the notifications page brings the count back down. (The demo's own schedules may
    raise alerts meanwhile: counts are compared with the inbox, not with fixed numbers.)"""
    services = running_app.services()
    demo = Actor(services.users.by_name("demo").id)
    services.alerts.mark_all_read(demo)
    login(page, running_app)
    page.locator("#bell").wait_for()
    assert _bell_shows(page, lambda: services.alerts.unread_count(demo))
    services.alerts.emit(demo, "order_filled", "Order 42 filled", "BUY 1 EURUSD @ 1.1",
                         {"order_id": 42})
    page.locator("#bell-count").wait_for(timeout=15_000)  # pushed: no reload, no polling
    assert _bell_shows(page, lambda: services.alerts.unread_count(demo))
    page.click("#bell")
    page.wait_for_url("**/notifications")
    row = page.locator(".inbox-row", has_text="Order 42 filled")
    row.wait_for()
    page.screenshot(path=str(ARTIFACTS / "notifications.png"))
    row.locator(".mark-read").click()
    row.locator(".mark-read").wait_for(state="detached", timeout=15_000)
    items, _ = services.alerts.inbox(demo, limit=100)
    assert [i["read"] for i in items if i["title"] == "Order 42 filled"] == [True]
    assert _bell_shows(page, lambda: services.alerts.unread_count(demo))


def test_channels_add_masked_and_loopback_refused(running_app, page):
    """A channel with a public target is added and shown masked; a loopback target is
    refused with the policy's message and nothing is added."""
    services = running_app.services()
    demo = Actor(services.users.by_name("demo").id)
    before = len(services.alerts.channels.list(demo))
    login(page, running_app)
    page.goto(f"{running_app.frontend}/notifications")
    page.fill("#channel-name", "ops hook")
    page.fill("#channel-url", "json://user:hunter2@93.184.216.34/secret-path")
    page.click("#add-channel")
    row = page.locator(".channel-row", has_text="ops hook")
    row.wait_for()
    assert "json://****@93.184.216.34/****" in row.inner_text()
    assert "hunter2" not in page.content() and "secret-path" not in page.content()
    page.fill("#channel-name", "local")
    page.fill("#channel-url", "json://127.0.0.1:9/x")
    page.click("#add-channel")
    page.locator("#channel-error").wait_for()
    assert "refused: target not allowed" in page.locator("#channel-error").inner_text()
    assert len(services.alerts.channels.list(demo)) == before + 1
