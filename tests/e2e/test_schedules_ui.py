"""Schedules as written, in a real browser on the real app: create from the plan's fields,
edit through each trigger type (the preview follows, the workflow is never changed) and the
cron's DST policy (set, then back to the default), skip the
next runs, pause with a note and a resume time, resume, the history with a missed run inline,
and delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentic_app.domain.errors import NotFoundError
from agentic_app.engine.scheduler import store
from tests.e2e.conftest import ARTIFACTS, login

USER, PASSWORD = "planner", "planner-pass-phrase"
FLOW = {"nodes": [{"id": "log", "type": "log", "params": {"message": "ran"}}], "edges": []}


@pytest.fixture
def planner(running_app):
    """A user of their own with one workflow that has no trigger node: (facade, actor, id)."""
    services = running_app.services()
    actor = services.users.create(username=USER, password=PASSWORD)
    wf = services.workflows.create(actor, name="Plan flow", definition=FLOW)
    return services, actor, wf.id


def _job(services, actor):
    rows, _ = services.schedules.list(actor)
    [job] = [r for r in rows if r.name == "plan job"]
    return job


def _edit_to(page, job_id: int, radio: str, fill: dict[str, str], expect: str) -> None:
    """Open the edit dialog, switch to ``radio``, fill the fields, wait for the preview
    description to contain ``expect``, save, and wait for the table to show it."""
    page.click(f"#edit-job-{job_id}")
    page.locator("#job-dialog").wait_for()
    page.get_by_role("radio", name=radio).click()
    for selector, value in fill.items():
        page.fill(selector, value)
    page.wait_for_function(
        "e => document.querySelector('#preview-description')?.innerText.includes(e)", arg=expect)
    page.click("#save-job")
    page.locator("#job-dialog").wait_for(state="detached")
    page.wait_for_function(
        "([id, e]) => document.querySelector('#job-row-' + id)?.innerText.includes(e)",
        arg=[job_id, expect])


def _save_dst(page, job_id: int, ambiguous: str) -> None:
    """Edit the cron job's "repeated time" DST choice and save."""
    page.click(f"#edit-job-{job_id}")
    page.locator("#job-dialog").wait_for()
    page.click("#dst-ambiguous")
    page.get_by_role("option", name=ambiguous, exact=True).click()
    page.wait_for_function("v => document.querySelector('#dst-ambiguous')?.innerText === v",
                           arg=ambiguous)
    page.click("#save-job")
    page.locator("#job-dialog").wait_for(state="detached")


def test_schedule_lifecycle_in_the_browser(running_app, page, planner):
    """The whole life of one schedule through the UI, each step checked in the database."""
    services, actor, wf_id = planner
    login(page, running_app, USER, PASSWORD)
    # create from the plan's fields: workflow, cron, "0 9 * * *"
    page.click("#new-job")
    page.click("#source-select")
    page.get_by_role("option", name="Workflow: Plan flow").click()
    page.get_by_role("radio", name="Cron").click()
    page.fill("#job-name", "plan job")
    page.fill("#cron-expression", "0 9 * * *")
    page.wait_for_function("document.querySelector('#preview-description')?.innerText"
                           ".includes('09:00')")
    page.click("#save-job")
    page.locator("#jobs-table tr", has_text="plan job").wait_for()
    job = _job(services, actor)
    assert (job.trigger_type, job.trigger_config["cron_expression"]) == ("cron", "0 9 * * *")
    assert job.workflow_id == wf_id
    page.locator(f"#job-health-{job.id}[data-health=healthy]").wait_for()

    # edit through each trigger type; the workflow is never changed
    _edit_to(page, job.id, "Interval", {"#interval-minutes": "90"}, "Every 90 minutes")
    assert services.schedules.get(actor, job.id).trigger_config["interval_minutes"] == 90
    _edit_to(page, job.id, "Price", {"#condition-input": "price > 1.2"}, "When EURUSD")
    got = services.schedules.get(actor, job.id)
    assert (got.trigger_type, got.trigger_config["condition"]) == ("price", "price > 1.2")
    _edit_to(page, job.id, "Indicator", {"#condition-input": "rsi < 25"}, "RSI(14)")
    got = services.schedules.get(actor, job.id)
    assert (got.trigger_type, got.trigger_config["condition"]) == ("indicator", "rsi < 25")
    _edit_to(page, job.id, "Cron", {"#cron-expression": "30 8 * * *"}, "08:30")
    got = services.schedules.get(actor, job.id)
    assert (got.trigger_type, got.trigger_config["cron_expression"]) == ("cron", "30 8 * * *")
    assert services.workflows.get(actor, wf_id).definition == FLOW
    # the DST policy is kept by an edit, and going back to "default" removes it
    _save_dst(page, job.id, "second")
    assert services.schedules.get(actor, job.id).trigger_config["dst_policy"][
        "ambiguous"] == "second"
    _save_dst(page, job.id, "default")
    got = services.schedules.get(actor, job.id).trigger_config
    assert "dst_policy" not in got and got["cron_expression"] == "30 8 * * *"

    # skip the next two runs
    page.click(f"#skip-job-{job.id}")
    page.fill("#skip-count", "2")
    page.click("#skip-dialog-confirm")
    page.locator(f"#job-skip-{job.id}", has_text="2").wait_for()
    assert services.schedules.get(actor, job.id).skip_next == 2

    # pause with a note and a resume time (UTC)
    resume_at = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    page.click(f"#pause-job-{job.id}")
    page.fill("#pause-note", "holiday")
    page.fill("#pause-resume-at", resume_at.strftime("%Y-%m-%dT%H:%M"))
    page.click("#pause-dialog-confirm")
    page.locator(f"#job-health-{job.id}[data-health=paused]").wait_for()
    assert "paused" in page.locator(f"#job-row-{job.id}").inner_text()
    got = services.schedules.get(actor, job.id)
    assert (got.is_active, got.pause_note, got.resume_at) == (False, "holiday", resume_at)
    page.screenshot(path=str(ARTIFACTS / "scheduler-paused.png"), full_page=True)

    # resume
    page.click(f"#resume-job-{job.id}")
    page.locator(f"#job-health-{job.id}[data-health=healthy]").wait_for()
    assert services.schedules.get(actor, job.id).is_active is True

    # the history lists a missed run inline, with its reason, and counts it
    fire = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    store.record_missed(services.db, job.id, [fire], "downtime", keep=100)
    page.goto(f"{running_app.frontend}/scheduler/{job.id}")
    missed = page.locator(".timeline-entry[data-kind=missed]")
    missed.wait_for()
    assert "downtime" in missed.inner_text() and "2026-11-30 08:30" in missed.inner_text()
    assert "1 missed" in page.locator("#job-counts").inner_text()
    page.locator("#job-skipping", has_text="2").wait_for()
    page.screenshot(path=str(ARTIFACTS / "scheduler-history-missed.png"), full_page=True)

    # delete
    page.goto(f"{running_app.frontend}/scheduler")
    page.click(f"#delete-job-{job.id}")
    page.click("#confirm-delete")
    page.locator(f"#job-row-{job.id}").wait_for(state="detached")
    with pytest.raises(NotFoundError):
        services.schedules.get(actor, job.id)
