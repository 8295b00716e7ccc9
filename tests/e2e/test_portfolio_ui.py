"""Browser: the portfolio page shows a user's paper trade (positions, figures, orders linked
to their execution, equity chart), and an alert-only run switched on from the job page is
badged on the monitor with its would-be order while nothing is traded."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlmodel import func, select

from agentic_app.db.engine import session_scope
from agentic_app.db.trading_models import PaperOrder
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
BUY = {"nodes": [
    {"id": "trigger", "type": "schedule_trigger", "params": {"cron_expression": "0 9 * * *"}},
    {"id": "buy", "type": "market_order",
     "params": {"symbol": "EURUSD", "side": "buy", "quantity": 0.1}}],
    "edges": [{"from": "trigger", "to": "buy"}]}


def _orders(app, user_id: int) -> int:
    with session_scope(app.db_url) as s:
        return s.exec(select(func.count()).select_from(PaperOrder).where(
            PaperOrder.user_id == user_id)).one()


def test_portfolio_and_alert_only_in_the_browser(running_app, page):
    """A bought position shows on /portfolio; the job's alert-only switch makes the next run
    alert-only: badged on the monitor with its would-be order, and no new order."""
    services = running_app.services()
    name = f"pf{uuid.uuid4().hex[:8]}"
    actor = services.users.create(username=name, password=PASSWORD)
    wf = services.workflows.create(actor, name="buy EURUSD", definition=BUY)
    job = services.schedules.create(actor, workflow_id=wf.id, trigger_type="cron")
    entry = services.workflows.run_now(actor, wf.id)
    deadline = time.monotonic() + 90
    while _orders(running_app, actor.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _orders(running_app, actor.id) == 1

    login(page, running_app, name, PASSWORD)
    page.goto(f"{running_app.frontend}/portfolio")
    page.locator("#positions-table").wait_for()
    assert "EURUSD" in page.locator("#positions-table").inner_text()
    assert page.locator("#pf-fees").inner_text().strip() != ""
    link = page.locator(f"#orders-table a[href='/monitor/{entry.execution_id}']")
    assert link.count() == 1
    assert page.locator(f"#orders-table a[href='/scheduler/{job.id}']").count() == 0
    curve = page.locator("#equity-chart path.recharts-line-curve").first
    curve.wait_for(state="attached")  # a flat line has no height: "hidden" to Playwright
    assert (curve.get_attribute("d") or "").count("L") >= 10  # the curve's points drawn
    page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)

    page.goto(f"{running_app.frontend}/scheduler/{job.id}")
    page.locator("#job-alert-only").click()
    page.locator("#job-alert-only-badge").wait_for()
    page.click("#run-job-now")
    page.wait_for_url("**/monitor/*")
    page.wait_for_selector("#execution-status[data-status=completed]", timeout=90_000)
    page.reload()
    page.locator("#alert-only-badge").wait_for()
    page.locator("#execution-alert-orders").wait_for()
    assert "EURUSD" in page.locator("#execution-alert-orders").inner_text()
    page.screenshot(path=str(ARTIFACTS / "alert-only-run.png"), full_page=True)
    assert _orders(running_app, actor.id) == 1
    page.goto(f"{running_app.frontend}/portfolio")
    page.locator("#alert-orders-table").wait_for()
    assert page.locator(f"#alert-orders-table a[href='/scheduler/{job.id}']").count() == 1
