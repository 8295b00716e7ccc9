"""Browser: the live monitor survives a lost connection (5 s and 60 s) and comes back to the
right state without a page reload."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.settings import get_settings
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


def _flow(first_s: float, second_s: float) -> dict:
    """trigger -> wait_a -> mid (log) -> wait_b -> done (log)."""
    return {
        "nodes": [
            {"id": "trigger", "type": "schedule_trigger",
             "params": {"cron_expression": "0 0 1 1 *", "timezone": "UTC"}},
            {"id": "wait_a", "type": "delay", "params": {"seconds": first_s}},
            {"id": "mid", "type": "log", "params": {"message": "while offline",
                                                    "level": "warning"}},
            {"id": "wait_b", "type": "delay", "params": {"seconds": second_s}},
            {"id": "done", "type": "log", "params": {"message": "finished offline"}},
        ],
        "edges": [{"from": "trigger", "to": "wait_a"}, {"from": "wait_a", "to": "mid"},
                  {"from": "mid", "to": "wait_b"}, {"from": "wait_b", "to": "done"}],
    }


def _db(app) -> str:
    return f"sqlite:///{app.data_dir / 'agentic.db'}"


def _start_execution(app, redis_url: str, name: str, flow: dict) -> int:
    """Create the workflow for the demo user and enqueue it; the execution id."""
    db = _db(app)
    services = app.services()
    demo = services.users.by_name("demo")
    user_id = demo.id
    wf = services.workflows.create(demo, name=name, definition=flow)
    settings = get_settings().model_copy(update={"database_url": db})
    row = enqueue_execution(db=Database(db), redis=redis_lib.Redis.from_url(redis_url),
                            workflow_id=wf.id, user_id=user_id, settings=settings)
    return row.execution_id


@pytest.mark.parametrize("outage_s", [5, 60])
def test_monitor_catches_up_after_outage(running_app, page, redis_base_url, outage_s):
    """Offline while the execution finishes, the open monitor shows every node, the log
    lines of the outage and the final status once back online, with no reload."""
    login(page, running_app)
    execution_id = _start_execution(running_app, redis_base_url, f"Outage {outage_s}s",
                                    _flow(2.5, 1.0))
    page.goto(f"{running_app.frontend}/monitor/{execution_id}")
    page.locator("#dag-node-wait_a[data-status=running]").wait_for(timeout=60_000)
    page.evaluate("window.__same_document = true")
    page.context.set_offline(True)
    time.sleep(outage_s)
    # nothing reached the page while it was offline: the outage was real
    assert page.locator("#execution-status").get_attribute("data-status") == "running"
    assert page.locator(".log-line", has_text="while offline").count() == 0
    page.context.set_offline(False)

    page.wait_for_selector("#execution-status[data-status=completed]", timeout=30_000)
    assert page.evaluate("window.__same_document === true")  # no reload happened
    for node in ("trigger", "wait_a", "mid", "wait_b", "done"):
        assert page.locator(f"#dag-node-{node}").get_attribute("data-status") == "succeeded"
    assert page.locator(".log-line", has_text="while offline").count() == 1
    assert page.locator(".log-line", has_text="finished offline").count() == 1
    assert page.locator(".timeline-row").count() == 5
    page.locator("#overall-pct", has_text="100").wait_for()
    page.screenshot(path=str(ARTIFACTS / f"monitor-after-{outage_s}s-outage.png"),
                    full_page=True)
