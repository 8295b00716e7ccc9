"""Schedules as the user wrote them, through REST: the plan's body, many schedules of any type
per workflow, PUT changing any field including the trigger type (the next runs follow; bad
input is a 422 naming the field and changes nothing), skip next N, pause with a note and a
resume time, resume, health, counts, and the history with missed/skipped runs inline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from agentic_app.engine.scheduler import store
from tests.api.conftest import API, CRON_TEMPLATE, PRICE_TEMPLATE

LOG_ONLY = {"nodes": [{"id": "log", "type": "log", "params": {"message": "ran"}}]}


def _job(env, headers, job_id) -> dict:
    resp = env.client.get(f"{API}/scheduler/jobs/{job_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_plans_body_is_accepted(any_env):
    """The plan's example, as written, on a workflow without any trigger node: 201, a cron
    job at 09:00 UTC, five next runs, healthy, all counts zero."""
    env = any_env
    _, alice = env.user("alice")
    wf = env.workflow(alice, definition=LOG_ONLY)
    body = {"workflow_id": wf, "trigger_type": "cron",
            "trigger_config": {"cron_expression": "0 9 * * *"}}
    resp = env.client.post(f"{API}/scheduler/jobs", headers=alice, json=body)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["trigger_type"] == "cron" and job["workflow_id"] == wf
    assert job["trigger_config"]["cron_expression"] == "0 9 * * *"
    assert [datetime.fromisoformat(t).strftime("%H:%M") for t in job["next_runs"]] == [
        "09:00"] * 5
    assert job["health"] == {"status": "healthy", "reason": ""}
    assert job["counts"] == {"runs": 0, "failed": 0, "missed": 0, "skipped": 0}
    assert job["skip_next"] == 0 and job["skipped_runs"] == []


def test_plan_trigger_types_and_rich_fields(env):
    """time = interval_minutes; price and indicator with symbol/condition; the richer fields
    (timezone, priority, overlap, misfire grace, cooldown, expiry, max fires) are kept; a
    workflow holds them all at once, whatever its trigger node."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    made = [
        env.schedule(alice, wf, "time", interval_minutes=15, priority="low",
                     misfire_grace_seconds=60),
        env.schedule(alice, wf, "price", symbol="EURUSD", condition="price > 1.2",
                     cooldown_seconds=120, max_fires=3, expires_at=expires.isoformat(),
                     overlap_policy="queue_one"),
        env.schedule(alice, wf, "indicator", symbol="BTCUSDT", condition="RSI(14) < 30",
                     timeframe="1h"),
        env.schedule(alice, wf, "cron", cron_expression="30 8 * * 1-5",
                     timezone="America/New_York", priority="high"),
    ]
    interval, price, indicator, cron = made
    assert interval["trigger_config"]["interval_minutes"] == 15
    assert interval["trigger_config"]["priority"] == -5 and len(interval["next_runs"]) == 5
    assert price["trigger_config"]["max_fires"] == 3
    assert price["trigger_config"]["cooldown_seconds"] == 120
    assert datetime.fromisoformat(price["trigger_config"]["expires_at"]) == expires
    assert indicator["trigger_config"]["indicator"] == "rsi"
    assert indicator["trigger_config"]["condition"] == "rsi < 30"
    assert cron["trigger_config"]["timezone"] == "America/New_York"
    listed = env.client.get(f"{API}/scheduler/jobs?workflow_id={wf}", headers=alice).json()
    assert listed["total"] == 4
    node = env.client.get(f"{API}/workflows/{wf}", headers=alice).json()["definition"]
    assert node["nodes"][0]["type"] == "schedule_trigger"  # the workflow is unchanged


def test_put_changes_type_and_the_preview_follows(any_env):
    """PUT cron -> interval -> price -> cron: trigger type and config change, the next runs
    follow at once (none for price), priority is kept across types, a same-type PUT merges."""
    env = any_env
    c = env.client
    _, alice = env.user("alice")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *", priority="high")
    url = f"{API}/scheduler/jobs/{job['id']}"
    resp = c.put(url, headers=alice, json={"trigger_type": "time",
                                           "trigger_config": {"interval_minutes": 90}})
    assert resp.status_code == 200, resp.text
    interval = resp.json()
    assert interval["trigger_type"] == "time"
    assert interval["trigger_config"] == {"interval_minutes": 90, "priority": 5,
                                          "overlap_policy": "skip", "jitter_seconds": 0,
                                          "misfire_grace_seconds": 300}
    runs = [datetime.fromisoformat(t) for t in interval["next_runs"]]
    assert len(runs) == 5 and all(b - a == timedelta(minutes=90) for a, b in pairwise(runs))
    assert datetime.fromisoformat(interval["next_run"]) == runs[0]
    resp = c.put(url, headers=alice, json={"trigger_type": "price", "trigger_config": {
        "symbol": "EURUSD", "condition": "price crosses_above 1.2"}})
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.condition"
    resp = c.put(url, headers=alice, json={"trigger_type": "price", "trigger_config": {
        "symbol": "EURUSD", "condition": "crosses_above(price, 1.2)"}})
    assert resp.status_code == 200, resp.text
    price = resp.json()
    assert price["trigger_type"] == "price" and price["next_runs"] == []
    assert price["next_run"] is None and price["trigger_config"]["priority"] == 5
    assert "EURUSD" in price["description"]
    resp = c.put(url, headers=alice, json={"trigger_config": {"symbol": "GBPUSD"}})
    assert resp.status_code == 200
    assert resp.json()["trigger_config"]["condition"] == "crosses_above(price, 1.2)"
    assert resp.json()["trigger_config"]["symbol"] == "GBPUSD"
    resp = c.put(url, headers=alice, json={"trigger_type": "cron", "trigger_config": {
        "cron_expression": "15 7 * * *", "timezone": "Europe/Berlin"}})
    assert resp.status_code == 200
    back = resp.json()
    assert back["trigger_type"] == "cron" and "07:15" in back["description"]
    assert all(datetime.fromisoformat(t).hour in (5, 6) for t in back["next_runs"])
    resp = c.put(url, headers=alice, json={"trigger_config": {"timezone": None}})
    assert resp.json()["trigger_config"]["timezone"] == "UTC"  # null: back to the default


def test_invalid_put_is_422_naming_the_field_and_changes_nothing(env):
    """Each bad PUT names its field; the row (config, type, name, next run) is unchanged."""
    c = env.client
    _, alice = env.user("alice")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *")
    url = f"{API}/scheduler/jobs/{job['id']}"
    before = _job(env, alice, job["id"])
    cases = [
        ({"trigger_config": {"cron_expression": "0 25 * * *"}},
         "trigger_config.cron_expression"),
        ({"trigger_config": {"timezone": "Mars/Base"}, "name": "x"}, "trigger_config.timezone"),
        ({"trigger_type": "time", "trigger_config": {"interval_minutes": 0}},
         "trigger_config.interval_minutes"),
        ({"trigger_type": "time"}, "trigger_config.interval_minutes"),
        ({"trigger_type": "price", "trigger_config": {"symbol": "NOSUCH",
                                                      "condition": "price > 1"}},
         "trigger_config.symbol"),
        ({"trigger_type": "indicator", "trigger_config": {
            "symbol": "EURUSD", "timeframe": "1h", "indicator": "rsi",
            "condition": "rsi < < 30"}},
         "trigger_config.condition"),
        ({"trigger_type": "hourly"}, "trigger_type"),
        ({"trigger_config": {"priority": 11}}, "trigger_config.priority"),
        ({"trigger_config": {"bogus": 1}}, "trigger_config.bogus"),
    ]
    for body, field in cases:
        resp = c.put(url, headers=alice, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["field"] == field, (body, resp.json())
    after = _job(env, alice, job["id"])
    assert after == before


def test_webhook_by_put_gets_a_token_and_loses_it_again(env):
    """PUT to webhook gives the job a URL token (its secret through rotate); PUT back to cron
    removes token and secret."""
    c = env.client
    _, alice = env.user("alice")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *")
    url = f"{API}/scheduler/jobs/{job['id']}"
    hooked = c.put(url, headers=alice, json={"trigger_type": "webhook"}).json()
    assert hooked["trigger_type"] == "webhook" and hooked["webhook_token"]
    rotated = c.post(f"{url}/webhook-secret/rotate", headers=alice)
    assert rotated.status_code == 200 and rotated.json()["webhook_secret"].startswith("whsec_")
    back = c.put(url, headers=alice, json={"trigger_type": "cron", "trigger_config": {
        "cron_expression": "0 9 * * *"}}).json()
    assert back["webhook_token"] is None
    assert c.post(f"{url}/webhook-secret/rotate", headers=alice).status_code == 409


def test_skip_next_runs(env):
    """Skip 2: skip_next is 2 and the first two next runs are the skipped ones; 0 cancels;
    out-of-range counts are 422 naming count; a webhook job cannot skip (409)."""
    c = env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice, definition=LOG_ONLY)
    job = env.schedule(alice, wf, "time", interval_minutes=60)
    url = f"{API}/scheduler/jobs/{job['id']}"
    skipped = c.post(f"{url}/skip", headers=alice, json={"count": 2})
    assert skipped.status_code == 200, skipped.text
    body = skipped.json()
    assert body["skip_next"] == 2 and body["skipped_runs"] == body["next_runs"][:2]
    for bad in (-1, 1001, "x"):
        resp = c.post(f"{url}/skip", headers=alice, json={"count": bad})
        assert resp.status_code == 422 and resp.json()["field"] == "count"
    assert _job(env, alice, job["id"])["skip_next"] == 2
    cleared = c.post(f"{url}/skip", headers=alice, json={"count": 0}).json()
    assert cleared["skip_next"] == 0 and cleared["skipped_runs"] == []
    hook = env.schedule(alice, wf, "webhook")
    resp = c.post(f"{API}/scheduler/jobs/{hook['id']}/skip", headers=alice, json={"count": 1})
    assert resp.status_code == 409


def test_pause_with_note_and_resume_at_then_resume(env):
    """Pause with a note and a resume time: paused, badge 'paused' with the note, no next
    runs; a resume time in the past or a year away is a 422 naming resume_at and changes
    nothing; resume: active again from now, note and resume time gone."""
    c = env.client
    _, alice = env.user("alice")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *")
    url = f"{API}/scheduler/jobs/{job['id']}"
    resume_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    resp = c.post(f"{url}/pause", headers=alice,
                  json={"note": "holiday", "resume_at": resume_at.isoformat()})
    assert resp.status_code == 200, resp.text
    paused = resp.json()
    assert paused["is_active"] is False and paused["pause_note"] == "holiday"
    assert datetime.fromisoformat(paused["resume_at"]) == resume_at
    assert paused["health"] == {"status": "paused", "reason": "holiday"}
    assert paused["next_runs"] == [] and paused["next_run"] is None
    for bad in ((datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                (datetime.now(UTC) + timedelta(days=400)).isoformat(), "2026-12-24T09:00"):
        resp = c.post(f"{url}/pause", headers=alice, json={"note": "x", "resume_at": bad})
        assert resp.status_code == 422 and resp.json()["field"] == "resume_at", resp.text
    resp = c.post(f"{url}/pause", headers=alice, json={"note": "n" * 501})
    assert resp.status_code == 422 and resp.json()["field"] == "note"
    assert _job(env, alice, job["id"]) == paused
    resumed = c.post(f"{url}/resume", headers=alice).json()
    assert resumed["is_active"] is True and resumed["pause_note"] is None
    assert resumed["resume_at"] is None and len(resumed["next_runs"]) == 5
    assert resumed["health"]["status"] == "healthy"


def test_history_lists_missed_skipped_and_runs_inline(env):
    """Recorded downtime, overlap and skip fire times appear in the timeline with their kind
    and reason, and in the counts; pages of the timeline share them out."""
    c = env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice, PRICE_TEMPLATE)
    job = env.schedule(alice, wf, "cron", cron_expression="0 9 * * *")
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    keep = env.settings.schedules.max_missed_runs
    store.record_missed(env.services.db, job["id"], [t0], "downtime", keep=keep)
    store.record_missed(env.services.db, job["id"], [t0 + timedelta(days=1)], "overlap",
                        "previous execution still running", keep=keep)
    store.record_missed(env.services.db, job["id"], [t0 + timedelta(days=2)], "skip",
                        keep=keep)
    run = c.post(f"{API}/scheduler/jobs/{job['id']}/run", headers=alice)
    assert run.status_code == 202
    history = c.get(f"{API}/scheduler/jobs/{job['id']}/history", headers=alice).json()
    kinds = [(e["kind"], e["reason"]) for e in history["timeline"]]
    assert kinds == [("run", ""), ("skipped", "skip"), ("skipped", "overlap"),
                     ("missed", "downtime")]
    assert history["timeline"][0]["execution_id"] == run.json()["execution_id"]
    assert history["timeline"][2]["detail"] == "previous execution still running"
    assert history["timeline"][1]["detail"]  # the reason's meaning when no detail was given
    counts = _job(env, alice, job["id"])["counts"]
    assert counts == {"runs": 0, "failed": 0, "missed": 1, "skipped": 2}


def test_other_users_and_anonymous_cannot_steer(env):
    """Pause, resume, skip and PUT of another user's job are 404 and change nothing;
    anonymous calls are 401; an oversized body is refused."""
    c = env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *")
    url = f"{API}/scheduler/jobs/{job['id']}"
    before = _job(env, alice, job["id"])
    calls = [("post", f"{url}/pause", {"note": "x"}), ("post", f"{url}/resume", None),
             ("post", f"{url}/skip", {"count": 1}),
             ("put", url, {"trigger_type": "time", "trigger_config": {"interval_minutes": 5}})]
    for method, path, body in calls:
        assert getattr(c, method)(path, headers=bob, json=body).status_code == 404, path
        assert getattr(c, method)(path, json=body).status_code == 401, path
    huge = c.post(f"{url}/pause", headers=alice, json={"note": "x" * 2_000_000})
    assert huge.status_code in (413, 422)
    assert _job(env, alice, job["id"]) == before


def test_run_now_counts_against_the_daily_limit(sqlite_db_url, redis_url):
    """Run now of a schedule is a run like any other: with a daily cap of 1 the second one is
    a 429 naming the limit, and the first is listed in the schedule's history."""
    from tests.api.conftest import ApiEnv

    env = ApiEnv(sqlite_db_url, redis_url, limits={"max_executions_per_day": 1})
    _, alice = env.user("alice")
    job = env.schedule(alice, env.workflow(alice, definition=LOG_ONLY), "cron",
                       cron_expression="0 9 * * *")
    url = f"{API}/scheduler/jobs/{job['id']}/run"
    first = env.client.post(url, headers=alice)
    assert first.status_code == 202, first.text
    second = env.client.post(url, headers=alice)
    assert second.status_code == 429 and second.json()["field"] == "max_executions_per_day"
    history = env.client.get(f"{API}/scheduler/jobs/{job['id']}/history", headers=alice).json()
    assert [e["execution_id"] for e in history["timeline"]] == [first.json()["execution_id"]]
