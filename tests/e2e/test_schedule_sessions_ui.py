"""The schedule dialog's DST policy and trading-session fields in a real browser: the preview
names what the next DST change does and describes the session; the saved job keeps both."""

from __future__ import annotations

from sqlmodel import select

from agentic_app.db.models import ScheduledJob
from tests.e2e.conftest import ARTIFACTS, login


def _pick(page, select_id: str, option: str) -> None:
    page.click(f"#{select_id}")
    page.get_by_role("option", name=option, exact=True).click()


def test_dst_policy_and_session_in_the_dialog(running_app, page):
    """02:30 Berlin with 'shift': the note says the missing 02:30 runs at 03:30; limited to
    XETR trading days the description says so; saved, the job row shows it and the edit
    dialog comes back with both choices."""
    login(page, running_app)
    page.locator("#jobs-table").wait_for()
    page.click("#new-job")
    page.click("#source-select")
    page.get_by_role("option", name="New from template: RSI Oversold Strategy").click()
    page.get_by_role("radio", name="Cron").click()
    page.fill("#job-name", "Berlin night run")
    page.fill("#cron-expression", "30 2 * * *")
    _pick(page, "cron-timezone", "Europe/Berlin")
    _pick(page, "dst-nonexistent", "shift")
    page.wait_for_function("document.querySelector('#preview-dst')?.innerText"
                           ".includes('does not exist in Europe/Berlin')")
    assert page.locator("#preview-dst").inner_text().endswith("runs at 03:30")
    _pick(page, "dst-nonexistent", "skip")
    page.wait_for_function("document.querySelector('#preview-dst')?.innerText"
                           ".endsWith('skipped')")
    _pick(page, "session-rule", "trading_days")
    _pick(page, "session-calendar", "XETR")
    page.wait_for_function("document.querySelector('#preview-description')?.innerText"
                           ".includes('on XETR trading days only')")
    page.locator(".next-run").nth(4).wait_for()
    page.screenshot(path=str(ARTIFACTS / "scheduler-session-dialog.png"))
    page.click("#save-job")
    row = page.locator("#jobs-table tr", has_text="Berlin night run")
    row.wait_for()
    assert "XETR trading days" in row.inner_text()
    with running_app.services().db.session() as s:
        job = s.exec(select(ScheduledJob).where(ScheduledJob.name == "Berlin night run")).one()
        config = dict(job.trigger_config)
    assert config["session"]["calendar"] == "XETR"
    assert config["session"]["rule"] == "trading_days"
    assert config["dst_policy"]["nonexistent"] == "skip"
    page.click(f"#edit-job-{job.id}")
    page.wait_for_function("document.querySelector('#preview-description')?.innerText"
                           ".includes('on XETR trading days only')")
    assert page.locator("#session-rule").inner_text() == "trading_days"
    assert page.locator("#dst-nonexistent").inner_text() == "skip"
