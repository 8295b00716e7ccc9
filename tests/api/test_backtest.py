"""POST /scheduler/backtest: the live evaluation over the feed's history, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import API, PRICE_TEMPLATE, ApiEnv

URL = f"{API}/scheduler/backtest"
PRICE = {"symbol": "EURUSD", "condition": "price > 1.10"}


@pytest.fixture
def market_env(sqlite_db_url: str, redis_url: str) -> ApiEnv:
    """The API on the simulated feed in real time (the local demo market runs 60x faster,
    so its backtests are in market time)."""
    return ApiEnv(sqlite_db_url, redis_url, market_feed="simulated", market_speed=1.0)


def test_backtest_lists_every_would_be_fire(market_env):
    """A 5-day price backtest: every fire with its bar, crossing price and values, the count
    ("would have fired N times in 5 days"), a chart whose marks are fires; the same window
    asked again gives the same answer."""
    env = market_env
    c = env.client
    _, alice = env.user("alice")
    end = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    first = c.post(URL, headers=alice, json={"trigger_type": "price", "days": 5,
                                             "trigger_config": {"symbol": "EURUSD",
                                                                "condition": "price > 0.5"},
                                             "end": end.isoformat()})
    assert first.status_code == 200, first.text
    assert first.json()["count"] == 0  # always true: the first bar disarms it
    level = first.json()["chart"][len(first.json()["chart"]) // 2]["close"]
    body = {"trigger_type": "price", "days": 5, "end": end.isoformat(),
            "trigger_config": {"symbol": "EURUSD", "condition": f"price > {level}"}}
    resp = c.post(URL, headers=alice, json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["count"] == len(data["fires"]) >= 2 and not data["truncated"]
    assert data["days"] == 5 and data["bars"] == 5 * 1440
    assert datetime.fromisoformat(data["end"]) == end
    for fire in data["fires"]:
        t = datetime.fromisoformat(fire["time"])
        assert end - timedelta(days=5) < t <= end and t.second == 0
        assert datetime.fromisoformat(fire["bar_ts"]) == t - timedelta(minutes=1)
        assert fire["price"] > level and fire["point"] in ("low", "high", "close")
    assert sum(p["fire"] is not None for p in data["chart"]) <= data["count"]
    assert 0 < len(data["chart"]) <= 400
    again = c.post(URL, headers=alice, json=body).json()
    assert again["fires"] == data["fires"]
    ind = c.post(URL, headers=alice, json={
        "trigger_type": "indicator", "days": 10, "end": end.isoformat(),
        "trigger_config": {"symbol": "EURUSD", "condition": "rsi < 35", "timeframe": "15m",
                           "indicator": "rsi"}}).json()
    assert ind["count"] >= 1 and all(f["values"]["rsi"] < 35 for f in ind["fires"])
    assert all(datetime.fromisoformat(f["time"]).minute % 15 == 0 for f in ind["fires"])


def test_backtest_of_a_saved_job_is_its_owners_only(env):
    """job_id backtests the job's own trigger; anonymous is 401, another user's job 404."""
    c = env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    wf = env.workflow(alice, PRICE_TEMPLATE)
    job = env.schedule(alice, wf, "price")
    own = c.post(URL, headers=alice, json={"job_id": job["id"], "days": 2})
    assert own.status_code == 200, own.text
    assert own.json()["symbol"] == "EURUSD" and own.json()["trigger_type"] == "price"
    assert c.post(URL, json={"job_id": job["id"], "days": 2}).status_code == 401
    assert c.post(URL, json={"trigger_type": "price", "trigger_config": PRICE}
                  ).status_code == 401
    other = c.post(URL, headers=bob, json={"job_id": job["id"], "days": 2})
    assert other.status_code == 404
    cron = env.schedule(alice, env.workflow(alice), "cron")
    not_market = c.post(URL, headers=alice, json={"job_id": cron["id"]})
    assert not_market.status_code == 422 and not_market.json()["field"] == "trigger_type"


def test_backtest_bad_or_oversized_input_names_the_field(env):
    """More than 90 days, a bad condition, an unknown symbol, a huge config: 422 naming the
    field, before any work."""
    c = env.client
    _, alice = env.user("alice")
    cases = [
        ({"trigger_type": "price", "trigger_config": PRICE, "days": 91}, "days"),
        ({"trigger_type": "price", "trigger_config": PRICE, "days": 0}, "days"),
        ({"trigger_type": "price", "trigger_config": PRICE, "days": 1e308}, "days"),
        ({"trigger_type": "price", "trigger_config": {"symbol": "EURUSD",
                                                      "condition": "price >> 1"}},
         "trigger_config.condition"),
        ({"trigger_type": "price", "trigger_config": {"symbol": "NOPE",
                                                      "condition": "price > 1"}},
         "trigger_config.symbol"),
        ({"trigger_type": "price", "trigger_config": {
            "symbol": "EURUSD", "condition": "price > 1" + " or price > 2" * 5000}},
         "trigger_config.condition"),
        ({"trigger_type": "cron", "trigger_config": {"cron_expression": "* * * * *"}},
         "trigger_type"),
        ({"trigger_type": "price"}, "trigger_type"),
        ({"trigger_type": "price", "trigger_config": PRICE, "end": "2025-13-01"}, "end"),
        ({"trigger_type": "price", "trigger_config": PRICE, "end": "0001-01-01T00:00:00Z"},
         "end"),
        ({"trigger_type": "price", "trigger_config": PRICE, "end": "1999-12-31T23:59:00Z"},
         "end"),
    ]
    for body, field in cases:
        resp = c.post(URL, headers=alice, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["field"] == field, (body, resp.json())


def test_concurrent_backtests_per_user_are_capped(market_env, monkeypatch):
    """While two of Alice's backtests run, a third gets 429 naming the limit (Bob's still
    runs); once they finish she may run again."""
    import threading

    from agentic_app.services import backtest_slots, dashboard

    env = market_env
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    started, release = threading.Semaphore(0), threading.Event()
    real_run = dashboard.TriggerDesigner._run

    def slow_run(self, *args):
        started.release()
        assert release.wait(30)
        return real_run(self, *args)

    monkeypatch.setattr(dashboard.TriggerDesigner, "_run", slow_run)
    body = {"trigger_type": "price", "days": 1, "trigger_config": PRICE}
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(
        env.client.post(URL, headers=alice, json=body).status_code)) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(2):
        assert started.acquire(timeout=30)
    third = env.client.post(URL, headers=alice, json=body)
    assert third.status_code == 429, third.text
    assert backtest_slots.LIMIT_NAME in third.text
    bob_thread = threading.Thread(target=lambda: results.append(
        env.client.post(URL, headers=bob, json=body).status_code))
    bob_thread.start()
    assert started.acquire(timeout=30)  # Bob's own slot: his backtest runs
    release.set()
    for t in [*threads, bob_thread]:
        t.join(60)
    assert results == [200, 200, 200]
    again = env.client.post(URL, headers=alice, json=body)
    assert again.status_code == 200, again.text


def test_replay_runs_in_a_worker_process(market_env, monkeypatch):
    """The facade reads the bars here and hands the replay (plain data) to the process pool:
    the replay's pid is not this process's, and the result is the API's."""
    import os

    from agentic_app.engine.scheduler import backtest as replay
    from agentic_app.services import dashboard, offload

    calls: list = []

    def spy(fn, *args):
        calls.append(fn)
        assert offload.call_cpu(os.getpid) != os.getpid()  # the pool is another process
        return offload.call_cpu(fn, *args)

    monkeypatch.setattr(dashboard, "call_cpu", spy)
    env = market_env
    _, alice = env.user("alice")
    resp = env.client.post(URL, headers=alice, json={"trigger_type": "price", "days": 1,
                                                     "trigger_config": PRICE})
    assert resp.status_code == 200, resp.text
    assert calls == [replay.replay_to_dict] and resp.json()["bars"] > 0
