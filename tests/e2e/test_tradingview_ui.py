"""Browser: a TradingView-mode webhook job's page offers the alert message to paste and
masks the secret URL; rotating shows the new URL once, and that URL, called like TradingView
does (text/plain), enqueues a run while the old one is refused."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
HOOK = {"nodes": [{"id": "hook", "type": "webhook_trigger", "params": {"mode": "tradingview"}},
                  {"id": "note", "type": "log", "params": {"message": "alert received"}}],
        "edges": [{"from": "hook", "to": "note"}]}


def test_tradingview_url_and_message_on_the_job_page(running_app, page):
    """Masked URL and the message template; rotate shows a working secret URL once."""
    services = running_app.services()
    name = f"tv{uuid.uuid4().hex[:8]}"
    actor = services.users.create(username=name, password=PASSWORD)
    wf = services.workflows.create(actor, name="tv hook", definition=HOOK)
    job = services.schedules.create(actor, workflow_id=wf.id, trigger_type="webhook")
    old_url = f"{running_app.backend}/api/agentic/webhooks/{job.webhook_token}/{job.webhook_secret}"

    login(page, running_app, name, PASSWORD)
    page.goto(f"{running_app.frontend}/scheduler/{job.id}")
    page.locator("#job-webhook-message").wait_for()
    assert "{{close}}" in page.locator("#job-webhook-message").inner_text()
    assert page.locator("#webhook-url").inner_text().strip().endswith("/••••••••")
    page.click("#rotate-secret")
    page.wait_for_function(
        "() => !document.querySelector('#webhook-url').innerText.includes('••••')")
    new_url = page.locator("#webhook-url").inner_text().strip()
    assert new_url.startswith(running_app.backend) and new_url != old_url
    page.screenshot(path=str(ARTIFACTS / "tradingview-job.png"), full_page=True)

    sent = httpx.post(new_url, content=b"buy EURUSD", timeout=10,
                      headers={"Content-Type": "text/plain"})
    assert sent.status_code == 202, sent.text
    assert httpx.post(old_url, content=b"sell EURUSD", timeout=10).status_code == 401
