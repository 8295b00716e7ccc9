"""Browser: the Broker page on a real `reflex run` - a credential added through the form is
shown masked only (the key and secret never reach the page again), limits are saved, and
the kill switch button pauses the user's schedules and refuses runs until re-armed."""

from __future__ import annotations

import uuid

import pytest

from agentic_app.domain.templates import get_template
from agentic_app.services.app import Actor
from tests.e2e.conftest import ARTIFACTS, login, poll_until

pytestmark = pytest.mark.e2e

PASSWORD = "broker page password 1"
API_KEY, SECRET = "e2e-binance-key-4321", "e2e-binance-secret-QRST"
SLOW_MS = 60_000
"""Wait for an action's result this long (the shared 2-core machine is slow at times)."""


def _user(app) -> tuple[str, int]:
    name = f"trader{uuid.uuid4().hex[:8]}"
    actor = app.services().users.create(username=name, password=PASSWORD)
    return name, actor.id


def test_credential_shown_masked_and_limits_saved(running_app, page):
    name, uid = _user(running_app)
    login(page, running_app, name, PASSWORD)
    page.goto(f"{running_app.frontend}/broker")
    page.locator("#page-heading", has_text="Broker").wait_for()
    page.fill("#api-key", API_KEY)
    page.fill("#api-secret", SECRET)
    page.fill("#api-label", "testnet")
    page.click("#add-credential")
    page.locator("#credentials-table", has_text="…4321").wait_for(timeout=SLOW_MS)
    html = page.content()
    assert API_KEY not in html and SECRET not in html
    services = running_app.services()
    [cred] = services.broker.credentials(Actor(id=uid))
    assert cred["key_hint"] == "…4321"
    page.fill("#limit-max_daily_loss", "25")
    page.click("#save-limits")
    assert poll_until(lambda: services.broker.limits(Actor(id=uid))["overrides"][
        "max_daily_loss"] == 25, 30)
    page.locator("#effective-max_daily_loss", has_text="25.00").wait_for(timeout=SLOW_MS)
    page.click(f"#delete-credential-{cred['id']}")
    assert poll_until(lambda: services.broker.credentials(Actor(id=uid)) == [], 30)
    page.screenshot(path=str(ARTIFACTS / "broker.png"))


def test_refused_order_shows_its_reason(running_app, page):
    """A live order the safety limits refused is listed with the limit and the reason."""
    from sqlmodel import Session

    from agentic_app.db.broker_models import LiveOrder

    name, uid = _user(running_app)
    services = running_app.services()
    with Session(services.db.engine) as s:
        s.add(LiveOrder(user_id=uid, exchange="binance", symbol="BTCUSDT", side="buy",
                        quantity=0.5, status="rejected", idempotency_key=f"e2e:{uid}",
                        client_order_id=f"ag-e2e-{uid}",
                        reason="max_order_notional: order notional 25000.00 is over the "
                               "limit of 1000 per order"))
        s.commit()
    login(page, running_app, name, PASSWORD)
    page.goto(f"{running_app.frontend}/broker")
    table = page.locator("#orders-table")
    table.wait_for()
    assert "max_order_notional" in table.inner_text()
    assert "rejected" in table.inner_text()


def test_kill_switch_button_pauses_and_rearms(running_app, page):
    name, uid = _user(running_app)
    services = running_app.services()
    actor = Actor(id=uid)
    template = get_template("RSI Oversold Strategy")
    wf = services.workflows.create(actor, name="ks", definition=template["definition"])
    job = services.schedules.create(actor, workflow_id=wf.id, trigger_type="cron",
                                    trigger_config={"cron_expression": "0 9 * * *"})
    login(page, running_app, name, PASSWORD)
    page.goto(f"{running_app.frontend}/broker")
    page.click("#kill-switch")
    page.fill("#kill-reason", "e2e stop")
    page.click("#kill-confirm")
    page.locator("#halt-badge", has_text="ENGAGED").wait_for(timeout=SLOW_MS)
    page.locator("#halt-report", has_text="1 schedule(s) paused").wait_for(timeout=SLOW_MS)
    assert services.schedules.get(actor, job.id).is_active is False
    assert services.kill_switch.status(actor)["reason"] == "e2e stop"
    page.click("#rearm")
    page.locator("#halt-badge", has_text="armed").wait_for(timeout=SLOW_MS)
    assert services.kill_switch.status(actor)["engaged"] is False
