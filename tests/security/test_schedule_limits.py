"""Bounded schedules through the REST API: a per-user cap on scheduled jobs (409 naming the
limit; deleting one frees a slot) and a minimum schedule period (a cron or interval firing
more often is a 422 naming the field; seconds-level cron only when a setting enables it)."""

from __future__ import annotations

from agentic_app.domain.templates import get_template
from tests.api.conftest import API, CRON_TEMPLATE, ApiEnv


def _cron_workflow(env: ApiEnv, headers: dict, expression: str) -> int:
    """A workflow whose schedule trigger node fires on ``expression``."""
    definition = get_template(CRON_TEMPLATE)["definition"]
    definition["nodes"][0]["params"]["cron_expression"] = expression
    return env.workflow(headers, definition=definition)


def _create(env: ApiEnv, headers: dict, workflow_id: int, **config) -> object:
    return env.client.post(f"{API}/scheduler/jobs", headers=headers, json={
        "workflow_id": workflow_id, "trigger_type": "cron", "trigger_config": config})


def test_schedules_per_user_cap(sqlite_db_url, redis_url):
    """With SCHEDULES max_per_user = 3: the 4th create is a 409 naming the limit and stores
    nothing; another user is not affected; deleting one lets the next create through."""
    env = ApiEnv(sqlite_db_url, redis_url, schedules={"max_per_user": 3})
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    wf = env.workflow(alice, CRON_TEMPLATE)
    made = [_create(env, alice, wf, overlap_policy="skip") for _ in range(3)]
    assert [r.status_code for r in made] == [201, 201, 201]
    refused = _create(env, alice, wf)
    assert refused.status_code == 409, refused.text
    assert refused.json()["field"] == "schedules.max_per_user"
    assert "limit is 3" in refused.json()["detail"]
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 3
    assert _create(env, bob, env.workflow(bob, CRON_TEMPLATE)).status_code == 201
    first = made[0].json()["id"]
    assert env.client.delete(f"{API}/scheduler/jobs/{first}", headers=alice).status_code == 204
    assert _create(env, alice, wf).status_code == 201


def test_default_cap_is_200(env):
    """The safe default: 200 schedules per user."""
    assert env.settings.schedules.max_per_user == 200
    assert env.settings.schedules.min_period_seconds == 10
    assert env.settings.schedules.allow_seconds_cron is False


def test_seconds_cron_refused_unless_enabled(sqlite_db_url, redis_url):
    """A 6-field (seconds) cron is a 422 naming trigger_config.cron_expression by default
    and nothing is stored; with allow_seconds_cron, every 30 s passes but every 5 s is
    still under the 10 s minimum period."""
    env = ApiEnv(sqlite_db_url, redis_url)
    _, alice = env.user("alice")
    resp = _create(env, alice, _cron_workflow(env, alice, "* * * * * *"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "trigger_config.cron_expression"
    assert "seconds-level cron" in resp.json()["detail"]
    assert env.client.get(f"{API}/scheduler/jobs", headers=alice).json()["total"] == 0

    enabled = ApiEnv(sqlite_db_url, redis_url, schedules={"allow_seconds_cron": True})
    _, carol = enabled.user("carol")
    slow = _create(enabled, carol, _cron_workflow(enabled, carol, "*/30 * * * * *"))
    assert slow.status_code == 201, slow.text
    fast = _create(enabled, carol, _cron_workflow(enabled, carol, "*/5 * * * * *"))
    assert fast.status_code == 422, fast.text
    assert fast.json()["field"] == "trigger_config.cron_expression"
    assert "minimum period of 10 s" in fast.json()["detail"]


def test_interval_below_minimum_period(sqlite_db_url, redis_url):
    """With min_period_seconds = 600, an interval of 5 minutes and a cron every minute are
    422s naming their fields; an interval of 10 minutes passes."""
    env = ApiEnv(sqlite_db_url, redis_url, schedules={"min_period_seconds": 600})
    _, alice = env.user("alice")
    every_minute = _create(env, alice, _cron_workflow(env, alice, "* * * * *"))
    assert every_minute.status_code == 422
    assert every_minute.json()["field"] == "trigger_config.cron_expression"
    definition = get_template(CRON_TEMPLATE)["definition"]
    definition["nodes"][0] = {"id": definition["nodes"][0]["id"], "type": "time_trigger",
                              "params": {"interval_minutes": 5}}
    interval_wf = env.workflow(alice, definition=definition)
    short = env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
        "workflow_id": interval_wf, "trigger_type": "time", "trigger_config": {}})
    assert short.status_code == 422, short.text
    assert short.json()["field"] == "trigger_config.interval_minutes"
    ok = env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
        "workflow_id": interval_wf, "trigger_type": "time",
        "trigger_config": {"interval_minutes": 10}})
    assert ok.status_code == 201, ok.text  # the request's 10 minutes win over the node's 5
    definition["nodes"][0]["params"]["interval_minutes"] = 10
    long_wf = env.workflow(alice, definition=definition)
    assert env.client.post(f"{API}/scheduler/jobs", headers=alice, json={
        "workflow_id": long_wf, "trigger_type": "time", "trigger_config": {}}).status_code == 201
