"""Browser: every page renders its heading in Chromium, served by a real `reflex run`."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e

PAGES = [("/scheduler", "Scheduler"), ("/queue", "Queue"), ("/monitor", "Monitor"),
         ("/workflows", "Workflows")]


def test_login_page_renders(running_app, page):
    """The login page shows its heading and form."""
    page.goto(f"{running_app.frontend}/login")
    assert page.locator("#page-heading").inner_text() == "Sign in to agentic"
    page.screenshot(path=str(ARTIFACTS / "login.png"))


def test_logo_and_favicon_served_from_assets(running_app, page):
    """The top-level assets/ folder serves the favicon and the logo the navigation bar shows."""
    login(page, running_app)
    page.goto(f"{running_app.frontend}/scheduler")
    logo = page.locator("#logo")
    logo.wait_for()
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
    favicon = httpx.get(f"{running_app.frontend}/favicon.ico", timeout=10)
    assert favicon.status_code == 200
    assert favicon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file, not an HTML fallback
    svg = httpx.get(f"{running_app.frontend}/logo.svg", timeout=10)
    assert svg.status_code == 200 and b"<svg" in svg.content


def test_wrong_password_shows_error(running_app, page):
    """A wrong password keeps the user on the login page with an error."""
    page.goto(f"{running_app.frontend}/login")
    page.fill("#username", "demo")
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    assert "Wrong username or password" in page.locator("#login-error").inner_text()
    assert page.url.endswith("/login")


def test_protected_page_redirects_to_login(running_app, page):
    """Without a session, a protected page sends the browser to /login."""
    page.goto(f"{running_app.frontend}/queue")
    page.wait_for_url("**/login")


@pytest.mark.parametrize(("path", "heading"), PAGES)
def test_page_heading(running_app, page, path, heading):
    """After logging in as the demo user, each page renders its heading."""
    login(page, running_app)
    page.goto(f"{running_app.frontend}{path}")
    page.wait_for_selector("#page-heading")
    assert page.locator("#page-heading").inner_text() == heading
    page.screenshot(path=str(ARTIFACTS / f"{heading.lower()}.png"), full_page=True)


def test_demo_workflows_listed(running_app, page):
    """The demo user's three template workflows are listed on the workflows page."""
    login(page, running_app)
    page.goto(f"{running_app.frontend}/workflows")
    table = page.locator("#workflows-table")
    table.wait_for()
    text = table.inner_text()
    for name in ("RSI Oversold Strategy", "EURUSD Price Alert", "RSI Signal Auto-trade"):
        assert name in text


def test_list_pages_page_through(running_app, page):
    """25 workflows are two pages: Next shows the rest, Previous comes back, and the buttons
    are disabled at either end (the paging shared by the list pages)."""
    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import Workflow

    db = f"sqlite:///{running_app.data_dir / 'agentic.db'}"
    user = running_app.services().users.create(username="paula", password="paula-pass-phrase")
    with session_scope(db) as s:
        for i in range(25):
            s.add(Workflow(user_id=user.id, name=f"wf-{i:02d}", definition={"nodes": []}))
    login(page, running_app, "paula", "paula-pass-phrase")
    page.goto(f"{running_app.frontend}/workflows")
    info = page.locator("#workflows-page-info")
    info.wait_for()
    assert "Page 1 of 2" in info.inner_text() and "25 rows" in info.inner_text()
    assert page.locator("#workflows-prev").is_disabled()
    page.click("#workflows-next")
    page.wait_for_function(
        "() => document.querySelector('#workflows-page-info').innerText.includes('Page 2')")
    assert page.locator("#workflows-table tbody tr").count() == 5
    assert page.locator("#workflows-next").is_disabled()
    page.click("#workflows-prev")
    page.wait_for_function(
        "() => document.querySelector('#workflows-page-info').innerText.includes('Page 1')")
    assert page.locator("#workflows-table tbody tr").count() == 20


def test_backend_health_through_reflex(running_app):
    """The API mounted in the Reflex backend reports database and Redis up: ``ok`` to anyone,
    the details to an admin."""
    url = f"{running_app.backend}/api/agentic/health"
    assert httpx.get(url, timeout=5).json() == {"status": "ok"}
    services = running_app.services()
    admin = services.users.create(username="health-admin", password="Zq8-health-admin-pw",
                                  is_admin=True)
    _, token = services.tokens.create(admin, name="health")
    body = httpx.get(url, timeout=5, headers={"Authorization": f"Bearer {token}"}).json()
    assert body["database"]["ok"] and body["redis"]["ok"]
