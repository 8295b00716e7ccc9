"""Scheduler routes: jobs CRUD, pause/resume, run now, history, previews, and bad input
naming fields."""

from __future__ import annotations

from datetime import datetime

from tests.api.conftest import API, CRON_TEMPLATE, INDICATOR_TEMPLATE, PRICE_TEMPLATE


def test_cron_and_price_jobs_lifecycle(any_env):
    """Create a cron and a price job, list/filter/paginate, get, update, toggle, history,
    delete: each answers as documented, with description and five UTC next runs."""
    env, c = any_env, any_env.client
    _, alice = env.user("alice")
    cron_wf = env.workflow(alice, CRON_TEMPLATE)
    price_wf = env.workflow(alice, PRICE_TEMPLATE)
    cron = env.schedule(alice, cron_wf, "cron", cron_expression="0 9 * * *")
    price = env.schedule(alice, price_wf, "price", cooldown_seconds=60, priority="high")
    assert cron["description"] and len(cron["next_runs"]) == 5
    runs = [datetime.fromisoformat(t) for t in cron["next_runs"]]
    assert all(t.utcoffset().total_seconds() == 0 and (t.hour, t.minute) == (9, 0)
               for t in runs)
    assert cron["next_run"] is not None
    assert price["trigger_config"]["symbol"] == "EURUSD" and price["next_runs"] == []
    assert price["trigger_config"]["priority"] == 5
    page = c.get(f"{API}/scheduler/jobs?limit=1", headers=alice).json()
    assert page["total"] == 2 and [j["id"] for j in page["items"]] == [price["id"]]
    only_cron = c.get(f"{API}/scheduler/jobs?trigger_type=cron", headers=alice).json()
    assert [j["id"] for j in only_cron["items"]] == [cron["id"]]
    by_wf = c.get(f"{API}/scheduler/jobs?workflow_id={price_wf}", headers=alice).json()
    assert [j["id"] for j in by_wf["items"]] == [price["id"]]
    got = c.get(f"{API}/scheduler/jobs/{cron['id']}", headers=alice).json()
    assert got["next_runs"] == cron["next_runs"]
    updated = c.put(f"{API}/scheduler/jobs/{cron['id']}", headers=alice,
                    json={"name": "morning", "trigger_config": {"overlap_policy": "allow"}})
    assert updated.status_code == 200 and updated.json()["name"] == "morning"
    assert updated.json()["trigger_config"]["overlap_policy"] == "allow"
    paused = c.post(f"{API}/scheduler/jobs/{cron['id']}/toggle", headers=alice).json()
    assert paused["is_active"] is False and paused["next_runs"] == []
    assert c.get(f"{API}/scheduler/jobs?status=paused", headers=alice).json()["total"] == 1
    resumed = c.post(f"{API}/scheduler/jobs/{cron['id']}/toggle", headers=alice).json()
    assert resumed["is_active"] is True and len(resumed["next_runs"]) == 5
    history = c.get(f"{API}/scheduler/jobs/{cron['id']}/history", headers=alice).json()
    assert history["total"] == 0 and history["runs"] == [] and history["missed"] == []
    assert c.delete(f"{API}/scheduler/jobs/{cron['id']}", headers=alice).status_code == 204
    assert c.get(f"{API}/scheduler/jobs/{cron['id']}", headers=alice).status_code == 404


def test_preview_without_creating(env):
    """The preview gives description and the next runs in the timezone, creating nothing."""
    _, alice = env.user("alice")
    resp = env.client.get(f"{API}/scheduler/preview", headers=alice, params={
        "cron_expression": "30 2 * * *", "timezone": "Europe/Berlin",
        "start": "2024-10-26T00:00:00Z", "count": 3})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["description"]
    # 02:30 Berlin: CEST (UTC+2) on the 26th, CET (UTC+1) after the fall-back on the 27th
    assert body["next_runs"] == ["2024-10-26T00:30:00Z", "2024-10-27T00:30:00Z",
                                 "2024-10-28T01:30:00Z"]
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0


def test_preview_invalid_input_names_the_field(env):
    """Invalid cron, timezone or interval in the preview: 422 naming the query field."""
    _, alice = env.user("alice")
    c = env.client
    for params, field in (({"cron_expression": "61 * * * *"}, "cron_expression"),
                          ({"cron_expression": "0 9 * * *", "timezone": "Mars/Base"},
                           "timezone"),
                          ({"interval_minutes": 0}, "interval_minutes")):
        resp = c.get(f"{API}/scheduler/preview", headers=alice, params=params)
        assert resp.status_code == 422, params
        assert resp.json()["field"] == field


def test_bad_job_input_names_the_field(env):
    """Invalid cron, malformed condition (with position), unknown symbol, a missing field of
    another type than the trigger node's, and an interval below the minimum: 422 naming the
    field."""
    _, alice = env.user("alice")
    c = env.client
    cron_wf = env.workflow(alice, CRON_TEMPLATE)
    indicator_wf = env.workflow(alice, INDICATOR_TEMPLATE)
    bare_price = env.workflow(alice, definition={
        "nodes": [{"id": "trigger", "type": "price_trigger",
                   "params": {"symbol": "EURUSD", "condition": "price > 1"}}]})
    bare_time = env.workflow(alice, definition={
        "nodes": [{"id": "trigger", "type": "time_trigger", "params": {"interval_minutes": 5}}]})

    def create(workflow_id, trigger_type, **config):
        return c.post(f"{API}/scheduler/jobs", headers=alice, json={
            "workflow_id": workflow_id, "trigger_type": trigger_type, "trigger_config": config})

    resp = create(cron_wf, "cron", cron_expression="0 25 * * *")
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.cron_expression"
    resp = c.put(f"{API}/workflows/{bare_price}", headers=alice, json={"definition": {
        "nodes": [{"id": "trigger", "type": "price_trigger",
                   "params": {"symbol": "EURUSD", "condition": "price >> 1.1"}}]}})
    assert resp.status_code == 422  # the node itself refuses the malformed condition
    # the trigger node does not restrict the schedule's type, nor fill another type's fields
    resp = create(cron_wf, "price", symbol="EURUSD")
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.condition"
    resp = create(bare_time, "time", interval_minutes=0)
    assert resp.status_code == 422
    assert resp.json()["field"] == "trigger_config.interval_minutes"
    resp = create(bare_price, "price", symbol="NOSUCH", condition="price > 1")
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_config.symbol"
    resp = create(indicator_wf, "indicator", condition="rsi < < 30")
    assert resp.status_code == 422
    body = resp.json()
    assert body["field"] == "trigger_config.condition" and body["position"] == 6
    resp = create(cron_wf + 1000, "cron", cron_expression="0 9 * * *")
    assert resp.status_code == 404 and resp.json()["field"] == "workflow_id"
    resp = c.post(f"{API}/scheduler/jobs", headers=alice,
                  json={"workflow_id": cron_wf, "trigger_type": "hourly"})
    assert resp.status_code == 422 and resp.json()["field"] == "trigger_type"
    assert c.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0


def test_run_a_scheduled_job_now(env):
    """POST /scheduler/jobs/{id}/run enqueues the job's workflow at once (202, manual, the
    job's priority, linked to the job): its execution id is what the WebSocket watches, and
    the run is in the job's history; an inactive workflow is 409 and enqueues nothing."""
    c = env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice, PRICE_TEMPLATE)
    sched = env.schedule(alice, wf, "price", priority="high")
    resp = c.post(f"{API}/scheduler/jobs/{sched['id']}/run", headers=alice)
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert (job["status"], job["workflow_id"], job["scheduled_job_id"]) == (
        "pending", wf, sched["id"])
    assert job["priority"] == 5 and job["execution_id"] is not None
    execution = c.get(f"{API}/monitoring/executions/{job['execution_id']}",
                      headers=alice).json()
    assert execution["trigger_type"] == "manual"
    assert execution["trigger_payload"]["scheduled_job_id"] == sched["id"]
    history = c.get(f"{API}/scheduler/jobs/{sched['id']}/history", headers=alice).json()
    assert [r["execution_id"] for r in history["runs"]] == [job["execution_id"]]
    c.put(f"{API}/workflows/{wf}", headers=alice, json={"is_active": False})
    refused = c.post(f"{API}/scheduler/jobs/{sched['id']}/run", headers=alice)
    assert refused.status_code == 409 and refused.json()["field"] == "workflow_id"
    assert c.get(f"{API}/queue/jobs", headers=alice).json()["total"] == 1


def test_chart_preview(env):
    """The chart preview shows where a price condition would have fired over the feed's
    history; a bad condition is 422 with its position, an unknown symbol names the field."""
    c = env.client
    _, alice = env.user("alice")
    resp = c.post(f"{API}/scheduler/preview/chart", headers=alice, json={
        "trigger_type": "price", "trigger_config": {"symbol": "EURUSD",
                                                   "condition": "price > 0.5"}})
    assert resp.status_code == 200, resp.text
    chart = resp.json()
    assert chart["points"] and chart["indicator"] == ""
    assert all(p["close"] > 0 for p in chart["points"])
    # the chart has at most one mark per point; fires counts them all
    assert chart["fires"] >= sum(1 for p in chart["points"] if p["fire"] is not None)
    bad = c.post(f"{API}/scheduler/preview/chart", headers=alice, json={
        "trigger_type": "price", "trigger_config": {"symbol": "EURUSD",
                                                   "condition": "price >> 1"}})
    assert bad.status_code == 422 and bad.json()["position"] == 7
    unknown = c.post(f"{API}/scheduler/preview/chart", headers=alice, json={
        "trigger_type": "price", "trigger_config": {"symbol": "NOPE",
                                                   "condition": "price > 1"}})
    assert unknown.status_code == 422 and unknown.json()["field"] == "trigger_config.symbol"
