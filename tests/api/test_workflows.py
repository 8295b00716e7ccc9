"""Workflow routes: CRUD, validation, run now, and the errors they answer."""

from __future__ import annotations

from tests.api.conftest import API, PRICE_TEMPLATE


def test_workflow_crud_and_run(any_env):
    """Create, list, get, update (version bump), run now (202, job pending), delete refused."""
    env = any_env
    _, alice = env.user("alice")
    wf_id = env.workflow(alice)
    c = env.client
    listed = c.get(f"{API}/workflows", headers=alice).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == wf_id
    got = c.get(f"{API}/workflows/{wf_id}", headers=alice).json()
    assert got["version"] == 1 and got["definition"]["nodes"][0]["type"] == "schedule_trigger"
    definition = got["definition"]
    definition["nodes"][1]["params"]["count"] = 50
    updated = c.put(f"{API}/workflows/{wf_id}", headers=alice,
                    json={"name": "renamed", "definition": definition}).json()
    assert updated["name"] == "renamed" and updated["version"] == 2
    job = env.run(alice, wf_id)
    assert job["status"] == "pending" and job["workflow_id"] == wf_id
    assert job["execution_id"] is not None and job["attempt"] == 1
    pending = c.get(f"{API}/queue/pending", headers=alice).json()
    assert [j["id"] for j in pending["items"]] == [job["id"]]
    resp = c.delete(f"{API}/workflows/{wf_id}", headers=alice)
    assert resp.status_code == 409 and resp.json()["field"] == "workflow_id"
    assert c.get(f"{API}/workflows/{wf_id}", headers=alice).status_code == 200


def test_workflow_delete_without_history(env):
    """A workflow with no jobs or executions is deleted; then it is 404."""
    _, alice = env.user("alice")
    wf_id = env.workflow(alice, PRICE_TEMPLATE)
    assert env.client.delete(f"{API}/workflows/{wf_id}", headers=alice).status_code == 204
    assert env.client.get(f"{API}/workflows/{wf_id}", headers=alice).status_code == 404


def test_invalid_definition_lists_every_problem(env):
    """An invalid definition is 422 with one problem per fault; /validate reports the same."""
    _, alice = env.user("alice")
    bad = {"nodes": [{"id": "a", "type": "no_such_node"},
                     {"id": "b", "type": "time_trigger", "params": {"interval_minutes": 0}}],
           "edges": [{"from": "a", "to": "zzz"}]}
    resp = env.client.post(f"{API}/workflows", headers=alice,
                           json={"name": "bad", "definition": bad})
    assert resp.status_code == 422
    body = resp.json()
    assert body["type"] == "WorkflowValidationError" and len(body["problems"]) >= 3
    fields = " ".join(p.get("field", "") for p in body["problems"])
    assert "interval_minutes" in fields
    check = env.client.post(f"{API}/workflows/validate", headers=alice,
                            json={"definition": bad}).json()
    assert check["valid"] is False and len(check["problems"]) == len(body["problems"])


def test_request_validation_names_the_field(env):
    """A body missing a field is 422 naming it; a non-finite number is refused."""
    _, alice = env.user("alice")
    resp = env.client.post(f"{API}/workflows", headers=alice, json={"name": "x"})
    assert resp.status_code == 422 and resp.json()["field"] == "definition"
    resp = env.client.post(f"{API}/workflows",
                           content=b'{"name": "x", "definition": {"a": NaN}}',
                           headers={**alice, "Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.json()["field"] == "definition"


def test_daily_limit_is_429_naming_the_limit(sqlite_db_url, redis_url):
    """Past max_executions_per_day, run now is 429 and the body names the limit."""
    from tests.api.conftest import ApiEnv

    env = ApiEnv(sqlite_db_url, redis_url, LIMITS={"max_executions_per_day": 1})
    _, alice = env.user("alice")
    wf_id = env.workflow(alice)
    env.run(alice, wf_id)
    resp = env.client.post(f"{API}/workflows/{wf_id}/run", headers=alice)
    assert resp.status_code == 429
    assert resp.json()["limit"] == "max_executions_per_day"
