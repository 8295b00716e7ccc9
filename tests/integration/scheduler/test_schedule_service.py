"""Creating scheduled jobs: any type for any workflow, node defaults, validation errors,
previews."""

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


def test_request_config_wins_over_the_node(env):
    """The node only offers defaults: the request's cron expression is the schedule's, the
    node's timezone fills the field the request left out, and the node is not changed."""
    wf = env.workflow(CRON)
    job = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="cron",
                                   trigger_config={"cron_expression": "0 10 * * *"})
    assert job.trigger_config["cron_expression"] == "0 10 * * *"
    assert job.trigger_config["timezone"] == "Europe/Berlin"
    node = env.app.workflows.get(env.actor, wf).definition["nodes"][0]
    assert node["params"]["cron_expression"] == "0 9 * * *"


def test_a_workflow_has_schedules_of_any_type(env):
    """A cron workflow gets a price and an interval schedule too; a workflow without a
    trigger node gets a cron schedule. Each keeps its own config."""
    wf = env.workflow(CRON)
    price = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="price",
                                     trigger_config={"symbol": "EURUSD",
                                                     "condition": "price > 1.2"})
    every = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="time",
                                     trigger_config={"interval_minutes": 30})
    bare = env.workflow({"type": "log", "params": {"message": "x"}}, name="bare")
    cron = env.app.schedules.create(env.actor, workflow_id=bare, trigger_type="cron",
                                    trigger_config={"cron_expression": "0 9 * * *"})
    assert price.trigger_config["condition"] == "price > 1.2" and price.next_run is None
    assert every.trigger_config["interval_minutes"] == 30 and every.next_run is not None
    assert cron.trigger_config["timezone"] == "UTC"
    rows, total = env.app.schedules.list(env.actor, workflow_id=wf)
    assert total == 2 and {r.trigger_type for r in rows} == {"price", "time"}


@pytest.mark.parametrize(("trigger", "trigger_type", "config", "field"), [
    (CRON, "price", {}, "trigger_config.symbol"),
    ({"type": "log", "params": {"message": "x"}}, "cron", {}, "trigger_config.cron_expression"),
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


def test_backtest_through_the_facade_honours_the_edge_rules(env):
    """The dialog's backtest (app.triggers.backtest) applies the watcher's rules: at most
    max_fires, never two inside the cooldown, no re-arm inside the band; the chart marks
    the fires."""
    from itertools import pairwise

    def run(**extra) -> dict:
        return env.app.triggers.backtest(env.actor, trigger_type="price", days=3,
                                         config={"symbol": "EURUSD", **extra})

    closes = [p["close"] for p in run(condition="price > 0")["chart"]]
    level = sorted(closes)[len(closes) // 2]
    condition = f"price > {level}"
    plain = run(condition=condition)
    times = [datetime.fromisoformat(f["time"]) for f in plain["fires"]]
    assert plain["count"] == len(times) >= 3
    assert any(p["fire"] is not None for p in plain["chart"])
    assert run(condition=condition, max_fires=2)["fires"] == plain["fires"][:2]
    gap = min((b - a).total_seconds() for a, b in pairwise(times))
    cooled = run(condition=condition, cooldown_seconds=int(gap) + 60)
    cooled_times = [datetime.fromisoformat(f["time"]) for f in cooled["fires"]]
    assert cooled_times != times and cooled_times[0] == times[0]
    assert all((b - a).total_seconds() > gap for a, b in pairwise(cooled_times))
    wide = run(condition=condition, rearm_band=2 * (max(closes) - min(closes)) + 1)
    assert wide["count"] <= 1  # never far enough to re-arm
