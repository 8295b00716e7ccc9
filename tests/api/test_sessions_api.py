"""Trading sessions through the REST API: POST /scheduler/preview shows next fire times with
the calendar applied; a job keeps its session and its next runs follow the calendar; bad,
oversized and anonymous requests are refused."""

from __future__ import annotations

from datetime import datetime

from tests.api.conftest import API, CRON_TEMPLATE, PRICE_TEMPLATE


def test_preview_applies_the_calendar(env):
    """NYSE trading days only: Christmas and the weekend are left out; 15 minutes before the
    close runs at 12:45 New York on the Christmas Eve early close."""
    _, alice = env.user("alice")
    body = {"trigger_type": "cron", "start": "2026-12-23T00:00:00Z", "count": 3,
            "trigger_config": {"cron_expression": "0 10 * * *", "timezone": "America/New_York",
                               "session": {"calendar": "XNYS", "rule": "trading_days"}}}
    resp = env.client.post(f"{API}/scheduler/preview", headers=alice, json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["next_runs"] == ["2026-12-23T15:00:00Z", "2026-12-24T15:00:00Z",
                                "2026-12-28T15:00:00Z"]
    assert out["description"].endswith("on XNYS trading days only")
    body["trigger_config"] = {"cron_expression": "0 0 * * *", "session": {
        "calendar": "XNYS", "rule": "before_close", "offset_minutes": 15}}
    out = env.client.post(f"{API}/scheduler/preview", headers=alice, json=body).json()
    assert out["next_runs"] == ["2026-12-23T20:45:00Z", "2026-12-24T17:45:00Z",
                                "2026-12-28T20:45:00Z"]
    assert out["description"] == "15 minutes before the close of XNYS, every trading day"
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0


def test_jobs_keep_their_session(any_env):
    """A cron job limited to the FX week and a price job limited to its symbol's session keep
    the limit; the cron job's next runs never fall on a Saturday."""
    env = any_env
    _, alice = env.user("alice")
    cron = env.schedule(alice, env.workflow(alice, CRON_TEMPLATE), "cron",
                        session={"calendar": "fx", "rule": "open_hours"})
    assert cron["trigger_config"]["session"]["calendar"] == "FX"
    assert cron["next_runs"]
    assert all(datetime.fromisoformat(t).weekday() != 5 for t in cron["next_runs"])
    price = env.schedule(alice, env.workflow(alice, PRICE_TEMPLATE), "price",
                         session={"rule": "open_hours"})
    assert price["description"].endswith("only while FX is open")


def test_bad_session_is_a_422_naming_the_field_and_nothing_is_created(env):
    """Unknown calendar, anchor on a price trigger, no calendar on a cron: 422 naming
    trigger_config.session[.<key>], on create and on preview; nothing created."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    cases = ((("cron", {"session": {"calendar": "XMARS"}}), "trigger_config.session.calendar"),
             (("cron", {"session": {"rule": "open_hours"}}), "trigger_config.session"),
             (("cron", {"session": {"calendar": "X" * 5000}}),
              "trigger_config.session.calendar"))
    for (kind, config), field in cases:
        resp = env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
            "workflow_id": wf, "trigger_type": kind, "trigger_config": config})
        assert resp.status_code == 422, resp.text
        assert resp.json()["field"] == field
        preview = env.client.post(f"{API}/scheduler/preview", headers=alice, json={
            "trigger_type": kind, "trigger_config": {"cron_expression": "0 9 * * *", **config}})
        assert preview.status_code == 422 and preview.json()["field"] == field
    price = env.client.post(f"{API}/scheduler/preview", headers=alice, json={
        "trigger_type": "price", "trigger_config": {
            "symbol": "AAPL", "condition": "price > 1", "session": {"rule": "after_open"}}})
    assert price.status_code == 422 and price.json()["field"] == "trigger_config.session"
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0


def test_preview_route_refuses_anonymous_and_oversized(env):
    """No token: 401. A count over 100 or a start out of range: 422 naming it."""
    _, alice = env.user("alice")
    body = {"trigger_type": "cron", "trigger_config": {"cron_expression": "0 9 * * *"}}
    assert env.client.post(f"{API}/scheduler/preview", json=body).status_code == 401
    too_many = env.client.post(f"{API}/scheduler/preview", headers=alice,
                               json={**body, "count": 101})
    assert too_many.status_code == 422 and "count" in too_many.text
    far = env.client.post(f"{API}/scheduler/preview", headers=alice,
                          json={**body, "start": "2500-01-01T00:00:00Z"})
    assert far.status_code == 422 and far.json()["field"] == "start"
    naive = env.client.post(f"{API}/scheduler/preview", headers=alice,
                            json={**body, "start": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "start" in naive.text
