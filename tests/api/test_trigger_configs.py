"""One trigger model: what the API accepts the scheduler can schedule and evaluate; what it
cannot run is a 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import talib

from agentic_app.engine.scheduler.market_watch import history_bars
from agentic_app.engine.scheduler.service import SchedulerService
from agentic_app.market.simulated import SimulatedFeed
from tests.api.conftest import API


def _indicator_workflow(env, headers, **params) -> int:
    """A workflow whose trigger is an indicator_trigger node with ``params``."""
    return env.workflow(headers, definition={"nodes": [
        {"id": "trigger", "type": "indicator_trigger",
         "params": {"symbol": "EURUSD", "timeframe": "1m", **params}},
        {"id": "log", "type": "log", "params": {"message": "fired"}}],
        "edges": [{"from": "trigger", "to": "log"}]})


def test_bbands_price_above_upper_is_scheduled_and_evaluated(env):
    """bbands 'price > upper' (once accepted by the API, then crashing the scheduler at every
    start) is accepted, scheduled without a problem and evaluated against TA-Lib's upper band."""
    _, alice = env.user("alice")
    wf = _indicator_workflow(env, alice, indicator="bbands", condition="price > upper")
    job = env.schedule(alice, wf, "indicator")
    assert job["trigger_config"]["params"] == {"period": 20, "nbdev_up": 2.0, "nbdev_dn": 2.0}
    now = datetime.now(UTC) + timedelta(minutes=1)
    feed = SimulatedFeed(seed=7)
    svc = SchedulerService(env.settings, redis_url=env.redis_url, market=feed,
                           now=lambda: now, check_lease=False)
    svc.leader, svc._aps = True, None
    svc.sync(startup=True)  # raised here, outside any error handling, before the fix
    svc.tick_market()
    report = svc._watcher.last_report
    assert report.evaluated == 1 and report.errors == {}
    bars = feed.bars("EURUSD", "1m", history_bars("bbands", {}), now)
    upper = talib.BBANDS(bars.close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)[0][-1]
    assert svc._watcher.state(job["id"]).last_in == bool(bars.close[-1] > upper)
    got = env.client.get(f"{API}/scheduler/jobs/{job['id']}", headers=alice).json()
    assert got["config_error"] is None and got["description"].startswith("When BBANDS(20, 2, 2)")


def test_configs_the_scheduler_cannot_run_are_422(env):
    """Params outside what TA-Lib computes, several indicator calls, and names an indicator
    does not output are refused naming the field; nothing is created."""
    _, alice = env.user("alice")
    rsi = _indicator_workflow(env, alice, indicator="rsi", condition="rsi < 30")

    def create(**config):
        return env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
            "workflow_id": rsi, "trigger_type": "indicator", "trigger_config": config})

    resp = create(params={"period": 1})
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.params"
    assert "period must be between 2 and 1000" in resp.json()["detail"]
    resp = create(condition="sma(50) > sma(200)")
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.condition"
    resp = create(condition="rsi < 30 and upper > 1")
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.condition"
    assert resp.json()["position"] == 13
    macd = _indicator_workflow(env, alice, indicator="macd", condition="signal > hist")
    bad = env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
        "workflow_id": macd, "trigger_type": "indicator",
        "trigger_config": {"params": {"fast": 30}}})
    assert bad.status_code == 422 and bad.json()["field"] == "trigger_config.params"
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0
    assert env.schedule(alice, macd, "indicator")["trigger_config"]["condition"] == "signal > hist"
