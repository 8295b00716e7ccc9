"""Creating scheduled jobs: config from the trigger node, validation errors, previews."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import ScheduledJob
from agentic_app.domain.errors import InvalidInputError, NotFoundError
from agentic_app.services.app import AppServices

CRON = {"type": "schedule_trigger", "params": {"cron_expression": "0 9 * * *",
                                                "timezone": "Europe/Berlin"}}
PRICE = {"type": "price_trigger", "params": {"symbol": "EURUSD", "condition": "price > 1.10"}}
INDICATOR = {"type": "indicator_trigger", "params": {
    "symbol": "BTCUSDT", "timeframe": "15m", "indicator": "rsi", "params": {"period": 14},
    "condition": "rsi < 30"}}


def _count(env) -> int:
    with session_scope(env.db) as s:
        return len(s.exec(select(ScheduledJob)).all())


def test_cron_job_takes_config_from_trigger_node(env):
    """The job's config is the node's; next_run is the next 09:00 Berlin in UTC."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(CRON), trigger_type="cron")
    assert job.trigger_config["cron_expression"] == "0 9 * * *"
    assert job.trigger_config["timezone"] == "Europe/Berlin"
    assert job.next_run.astimezone(timezone.utc).hour in (7, 8)  # 09:00 CET/CEST
    view = env.app.schedules.view(job)
    assert len(view["next_runs"]) == 5 and "09:00" in view["description"]
    assert "webhook_secret" not in view


def test_request_config_must_agree_with_node(env):
    """A request that contradicts the trigger node is refused naming the field; nothing saved."""
    with pytest.raises(InvalidInputError) as err:
        env.app.schedules.create(env.actor, workflow_id=env.workflow(CRON),
                                 trigger_type="cron",
                                 trigger_config={"cron_expression": "0 10 * * *"})
    assert err.value.field == "trigger_config.cron_expression"
    assert _count(env) == 0


@pytest.mark.parametrize(("trigger", "trigger_type", "config", "field"), [
    (CRON, "price", {}, "trigger_type"),
    ({"type": "log", "params": {"message": "x"}}, "cron", {}, "workflow_id"),
    ({"type": "price_trigger", "params": {"symbol": "NOPE", "condition": "price > 1"}},
     "price", {}, "trigger_config.symbol"),
    (CRON, "cron", {"timezone": "Mars/Base"}, "trigger_config.timezone"),
    (CRON, "cron", {"misfire_grace_seconds": -1}, "trigger_config.misfire_grace_seconds"),
    (CRON, "bogus", {}, "trigger_type"),
])
def test_bad_input_names_the_field(env, trigger, trigger_type, config, field):
    """Each bad input is a 4xx-class error naming its field, and nothing is created."""
    wf = env.workflow(trigger)
    with pytest.raises(InvalidInputError) as err:
        env.app.schedules.create(env.actor, workflow_id=wf,
                                 trigger_type=trigger_type, trigger_config=config)
    assert err.value.field == field
    assert _count(env) == 0


def test_malformed_condition_has_position(env):
    """A malformed condition given with the request carries its position."""
    with pytest.raises(InvalidInputError) as err:
        env.app.schedules.preview(trigger_type="price",
                                  trigger_config={"symbol": "EURUSD", "condition": "price >> 1"})
    assert err.value.field == "trigger_config.condition" and err.value.position == 7


def test_interval_below_minimum(env):
    """An interval of 0 minutes is refused naming interval_minutes."""
    with pytest.raises(InvalidInputError) as err:
        env.app.schedules.preview(trigger_type="time", trigger_config={"interval_minutes": 0})
    assert err.value.field == "trigger_config.interval_minutes"


def test_indicator_call_form_is_accepted(env):
    """'RSI(14) < 30' in the request fills indicator and params and agrees with the node."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(INDICATOR),
                                   trigger_type="indicator",
                                   trigger_config={"condition": "RSI(14) < 30"})
    assert job.trigger_config["indicator"] == "rsi"
    assert job.trigger_config["params"] == {"period": 14}
    assert job.trigger_config["condition"] == "rsi < 30"


def test_other_users_workflow_and_job_are_not_found(env):
    """Another user's workflow or job is 'not found', and nothing changes."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(CRON), trigger_type="cron")
    other = env.app.users.create(username="bob", password="not-a-secret-42")
    with pytest.raises(NotFoundError):
        env.app.schedules.create(other, workflow_id=job.workflow_id, trigger_type="cron")
    service = env.app.schedules
    for call in (service.toggle, service.delete, service.get, service.history,
                 service.run_now):
        with pytest.raises(NotFoundError):
            call(other, job.id)
    with pytest.raises(NotFoundError):
        service.update(other, job.id, name="hijacked")
    assert service.get(env.actor, job.id).is_active


def test_preview_in_timezone():
    """The preview lists fire times in UTC for a cron in New York, across the DST change."""
    from agentic_app.settings import load_settings

    out = AppServices(load_settings()).schedules.preview(
        trigger_type="cron",
        trigger_config={"cron_expression": "30 8 * * *", "timezone": "America/New_York"},
        start=datetime(2026, 3, 6, tzinfo=timezone.utc), count=4)
    assert out["next_runs"] == ["2026-03-06T13:30:00+00:00", "2026-03-07T13:30:00+00:00",
                                "2026-03-08T12:30:00+00:00", "2026-03-09T12:30:00+00:00"]
    assert "08:30" in out["description"]


def test_webhook_job_gets_token_and_secret(env):
    """A webhook job gets a URL token and a signing secret."""
    wf = env.workflow({"type": "webhook_trigger", "params": {}})
    job = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="webhook")
    assert len(job.webhook_token) >= 24 and job.webhook_secret.startswith("whsec_")
    assert job.next_run is None


def test_would_have_fired_chart_uses_the_watchers_edge_rules(env):
    """The new-job chart marks fires by the watcher's rules: every upward edge without limits,
    at most max_fires with them, never two inside the cooldown, no re-arm inside the band."""
    from itertools import pairwise

    def fires(**extra) -> list[int]:
        chart = env.app.triggers.chart(trigger_type="price",
                                       config={"symbol": "EURUSD", **extra})
        return [i for i, p in enumerate(chart["points"]) if p["fire"] is not None]

    closes = [p["close"] for p in env.app.triggers.chart(
        trigger_type="price", config={"symbol": "EURUSD", "condition": "price > 0"})["points"]]
    level = max(closes, key=lambda x: sum(a <= x < b for a, b in pairwise(closes)))
    condition = f"price > {level}"
    plain = fires(condition=condition)
    crossings = [i for i in range(1, len(closes)) if closes[i - 1] <= level < closes[i]]
    assert [i for i in plain if i > 0] == crossings  # (the feed may evaluate a bar before 0)
    assert len(plain) >= 3
    assert fires(condition=condition, max_fires=2) == plain[:2]
    gap = min(b - a for a, b in pairwise(plain))
    ts = env.app.market.bars("EURUSD", "1h", 2).ts
    bar_seconds = int(ts[1] - ts[0])  # an accelerated demo feed packs "1h" bars closer
    cooled = fires(condition=condition, cooldown_seconds=(gap + 1) * bar_seconds)
    assert cooled != plain and cooled[0] == plain[0]
    assert all(b - a > gap for a, b in pairwise(cooled))
    wide = fires(condition=condition, rearm_band=2 * (max(closes) - min(closes)))
    assert set(wide) <= set(plain) and len(wide) <= 1  # never far enough to re-arm
