"""The schedule dialog's backtest panel in a real browser: the price trigger in the form is
backtested off the event loop, the panel says how often it would have fired in how many days
and marks the fires on the price chart; another window re-runs it."""

from __future__ import annotations

import re

from tests.e2e.conftest import ARTIFACTS, login


def _summary(page) -> str:
    return page.locator("#chart-fires").inner_text()


def test_backtest_panel_counts_and_marks_fires(running_app, page):
    """EURUSD 'price > 1.10' on the demo market (it swings around 1.10): 'would have fired
    N times in 7 days' with N > 0 and red fire markers; 30 days gives more; a bad condition
    clears the panel."""
    login(page, running_app)
    page.locator("#jobs-table").wait_for()
    page.click("#new-job")
    page.click("#source-select")
    page.get_by_role("option", name="New from template: EURUSD Price Alert").click()
    page.get_by_role("radio", name="Price").click()
    page.fill("#condition-input", "price > 1.10")
    page.wait_for_function("document.querySelector('#chart-fires')?.innerText"
                           ".includes('in 7 days')", timeout=60_000)
    week = re.search(r"would have fired (once|(\d+) times) in 7 days", _summary(page))
    assert week, _summary(page)
    week_count = 1 if week.group(1) == "once" else int(week.group(2))
    assert week_count > 0
    page.locator("#condition-chart .recharts-line-dot").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "scheduler-backtest.png"))
    page.click("#backtest-days")
    page.get_by_role("option", name="30", exact=True).click()
    page.wait_for_function("document.querySelector('#chart-fires')?.innerText"
                           ".includes('in 30 days')", timeout=60_000)
    month = re.search(r"would have fired (\d+) times in 30 days", _summary(page))
    assert month and int(month.group(1)) > week_count
    page.fill("#condition-input", "price >> 1.10")
    page.locator("#condition-caret").wait_for()
    page.wait_for_function("!document.querySelector('#condition-chart')", timeout=30_000)
