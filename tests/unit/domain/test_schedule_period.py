"""The minimum schedule period rule of time triggers (one place: check_schedule_period)."""

from __future__ import annotations

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.triggers import (
    check_schedule_period,
    parse_trigger_config,
    shortest_cron_period,
)


@pytest.mark.parametrize(("expression", "seconds"), [
    ("0 9 * * *", 86400), ("*/5 * * * *", 300), ("0,55 * * * *", 300),
    ("* * * * *", 60), ("0 0,12 * * *", 43200), ("*/10 * * * * *", 10),
    ("0,1 * * * * *", 1), ("30 * * * * *", 60), ("* * * * * *", 1),
])
def test_shortest_cron_period(expression, seconds):
    """Read from the seconds, minute and hour fields, wrapping around."""
    assert shortest_cron_period(expression) == seconds


def test_check_schedule_period():
    """Seconds cron only when allowed; nothing faster than the minimum; other types pass."""
    cron = parse_trigger_config("cron", {"cron_expression": "*/20 * * * * *"})
    with pytest.raises(InvalidInputError, match="seconds-level cron") as exc:
        check_schedule_period(cron, min_period_seconds=10, allow_seconds_cron=False)
    assert exc.value.field == "trigger_config.cron_expression"
    check_schedule_period(cron, min_period_seconds=10, allow_seconds_cron=True)
    with pytest.raises(InvalidInputError, match="minimum period of 30 s"):
        check_schedule_period(cron, min_period_seconds=30, allow_seconds_cron=True)
    interval = parse_trigger_config("time", {"interval_minutes": 1})
    check_schedule_period(interval, min_period_seconds=60, allow_seconds_cron=False)
    with pytest.raises(InvalidInputError) as exc:
        check_schedule_period(interval, min_period_seconds=61, allow_seconds_cron=False)
    assert exc.value.field == "trigger_config.interval_minutes"
    webhook = parse_trigger_config("webhook", {})
    check_schedule_period(webhook, min_period_seconds=86400, allow_seconds_cron=False)
