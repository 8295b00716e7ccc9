"""Browser: scheduler dialog, live monitor, queue actions and per-user isolation, in Chromium
against a real `reflex run` (workers and scheduler included)."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.services.app import Actor
from agentic_app.settings import get_settings
from tests.e2e.conftest import ARTIFACTS, login, watch_run_now

pytestmark = pytest.mark.e2e

SLOW_FLOW = {
    "nodes": [
        {"id": "trigger", "type": "schedule_trigger",
         "params": {"cron_expression": "0 0 1 1 *", "timezone": "UTC"}},
        {"id": "wait_a", "type": "delay", "params": {"seconds": 1.5}},
        {"id": "note", "type": "log", "params": {"message": "half way", "level": "warning"}},
        {"id": "wait_b", "type": "delay", "params": {"seconds": 1.5}},
        {"id": "done", "type": "log", "params": {"message": "all done"}},
    ],
    "edges": [{"from": "trigger", "to": "wait_a"}, {"from": "wait_a", "to": "note"},
              {"from": "note", "to": "wait_b"}, {"from": "wait_b", "to": "done"}],
}
"""A five-node chain slow enough (about 3 s) to be watched node by node."""


def _db(app) -> str:
    return f"sqlite:///{app.data_dir / 'agentic.db'}"


def _demo_id(app) -> int:
    return app.services().users.by_name("demo").id


def _workflow(app, user_id: int, name: str, definition: dict) -> int:
    return app.services().workflows.create(Actor(id=user_id), name=name,
                                           definition=definition).id


def owned_job(app, *, user_id: int, job_id: int):
    """One of the user's queue rows, read through the facade."""
    return app.services().queue.get(Actor(id=user_id), job_id)


def _enqueue(app, redis_url: str, user_id: int, workflow_id: int) -> int:
    settings = get_settings().model_copy(update={"database_url": _db(app)})
    row = enqueue_execution(db=Database(_db(app)), redis=redis_lib.Redis.from_url(redis_url),
                            workflow_id=workflow_id, user_id=user_id, settings=settings)
    return row.id


def _slow(value: float = 8.0) -> dict:
    flow = {"nodes": [dict(n, params=dict(n["params"])) for n in SLOW_FLOW["nodes"]],
            "edges": SLOW_FLOW["edges"]}
    flow["nodes"][1]["params"]["seconds"] = value
    return flow


def test_cron_job_from_template(running_app, page):
    """A cron job made from a template in the dialog shows a live description and five
    next runs in the chosen timezone, then appears in the jobs table."""
    login(page, running_app)
    page.locator("#jobs-table").wait_for()  # the demo jobs are seeded
    page.click("#new-job")
    page.click("#source-select")
    page.get_by_role("option", name="New from template: RSI Oversold Strategy").click()
    page.get_by_role("radio", name="Cron").click()
    page.fill("#job-name", "Weekday quarter-hours")
    page.fill("#cron-expression", "*/15 9-17 * * 1-5")
    page.click("#cron-timezone")
    page.get_by_role("option", name="Europe/Paris").click()
    page.wait_for_function("document.querySelector('#preview-description')?.innerText"
                           ".includes('Monday through Friday')")
    runs = page.locator(".next-run")
    runs.nth(4).wait_for()
    assert runs.count() == 5
    assert all(("CET" in r or "CEST" in r) for r in runs.all_inner_texts())
    page.screenshot(path=str(ARTIFACTS / "scheduler-cron-dialog.png"))
    page.click("#save-job")
    row = page.locator("#jobs-table tr", has_text="Weekday quarter-hours")
    row.wait_for()
    assert "cron" in row.inner_text() and "active" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "scheduler.png"), full_page=True)


def test_price_condition_error_is_positioned(running_app, page):
    """An invalid price condition shows the parser's message and a caret under the bad
    character; nothing is saved."""
    login(page, running_app)
    page.click("#new-job")
    page.click("#source-select")
    page.get_by_role("option", name="New from template: EURUSD Price Alert").click()
    page.get_by_role("radio", name="Price").click()
    page.fill("#condition-input", "price >> 1.10")
    caret = page.locator("#condition-caret")
    caret.wait_for()
    text_line, caret_line = caret.inner_text().split("\n")[:2]
    assert text_line == "price >> 1.10"
    assert caret_line == " " * 7 + "^"  # under the second '>'
    assert "position 7" in page.locator("#condition-error").inner_text()
    page.screenshot(path=str(ARTIFACTS / "scheduler-price-error.png"))
    page.click("#save-job")
    page.locator("#form-error").wait_for()
    page.fill("#condition-input", "price > 1.0")
    page.locator("#condition-chart").wait_for()
    assert page.locator("#condition-caret").count() == 0


def test_run_now_is_watched_live(running_app, page):
    """Run now opens the monitor, which follows the execution node by node to completed,
    with the log and the timeline filled."""
    wf_id = _workflow(running_app, _demo_id(running_app), "Slow chain", SLOW_FLOW)
    login(page, running_app)
    watch_run_now(page, running_app, wf_id)
    assert page.locator("#metric-ok").inner_text().endswith("5")
    page.click("#log-level")
    page.get_by_role("option", name="warning").click()
    page.wait_for_function("document.querySelectorAll('.log-line').length === 1")
    page.screenshot(path=str(ARTIFACTS / "monitor-execution.png"), full_page=True)
    page.goto(f"{running_app.frontend}/monitor")
    page.locator("#recent-table").wait_for()
    page.screenshot(path=str(ARTIFACTS / "monitor.png"), full_page=True)


def test_queue_cancel_pending_and_retry_failed(running_app, page, redis_base_url):
    """From the queue dashboard, a pending job is cancelled and a failed one retried."""
    user_id = _demo_id(running_app)
    blocker = _workflow(running_app, user_id, "Blocker", _slow(30))
    broken = _workflow(running_app, user_id, "Broken feed", {
        "nodes": [{"id": "trigger", "type": "schedule_trigger",
                   "params": {"cron_expression": "0 0 1 1 *"}},
                  {"id": "bars", "type": "bars",
                   "params": {"symbol": "NOSUCH", "timeframe": "1h", "count": 10}}],
        "edges": [{"from": "trigger", "to": "bars"}]})
    failed_job = _enqueue(running_app, redis_base_url, user_id, broken)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the broken job fails first (worker free)
        if owned_job(running_app, user_id=user_id, job_id=failed_job).status == "failed":
            break
        time.sleep(0.3)
    job = owned_job(running_app, user_id=user_id, job_id=failed_job)
    assert job.status == "failed", (job.status, job.retry_count, job.error_message)
    running_job = _enqueue(running_app, redis_base_url, user_id, blocker)
    pending_job = _enqueue(running_app, redis_base_url, user_id, blocker)

    login(page, running_app)
    page.goto(f"{running_app.frontend}/queue")
    page.locator(f"#cancel-job-{pending_job}").wait_for()
    page.click(f"#cancel-job-{pending_job}")
    page.locator(f"#queue-row-{pending_job}").wait_for(state="detached")
    page.click("#tab-cancelled")
    page.locator(f"#queue-row-{pending_job}").wait_for()
    page.click("#tab-running")
    page.locator(f"#cancel-job-{running_job}").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
    page.click(f"#cancel-job-{running_job}")
    page.locator(f"#queue-row-{running_job}").wait_for(state="detached")
    page.click("#tab-failed")
    try:
        page.locator(f"#retry-job-{failed_job}").wait_for()
        page.click(f"#retry-job-{failed_job}")
        page.get_by_text(f"Job {failed_job} re-enqueued").wait_for()
    finally:
        page.screenshot(path=str(ARTIFACTS / "queue-after-actions.png"), full_page=True)
    job = owned_job(running_app, user_id=user_id, job_id=failed_job)
    assert job.attempt >= 2  # the manual retry ran a new attempt (it may have failed again)


def test_second_user_sees_none_of_the_first_users_rows(running_app, page):
    """Another user's scheduler, queue, monitor and workflows pages are empty, and the first
    user's execution page answers 'not found'."""
    running_app.services().users.create(username="eve", password="eve-pass-phrase")
    login(page, running_app, "eve", "eve-pass-phrase")
    page.get_by_text("No scheduled jobs").wait_for()
    page.goto(f"{running_app.frontend}/workflows")
    page.get_by_text("No workflows yet").wait_for()
    page.goto(f"{running_app.frontend}/queue")
    page.locator("#count-completed").wait_for()
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        assert page.locator(f"#count-{status}").inner_text().endswith("0")
    page.goto(f"{running_app.frontend}/monitor")
    page.get_by_text("No executions yet.").wait_for()
    page.goto(f"{running_app.frontend}/monitor/1")
    page.get_by_text("not found").wait_for()
    page.goto(f"{running_app.frontend}/scheduler/1")
    page.get_by_text("not found").wait_for()
