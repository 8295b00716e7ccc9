"""Workflow routes: CRUD, templates, the trigger node, validation, run now, and the errors
they answer."""

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


def test_templates_and_create_from_template(env):
    """The templates are listed with their trigger type; a workflow made from one gets a
    unique name and, when asked, another trigger written into its trigger node; a bad
    trigger or an unknown template is 422 naming the field and creates nothing."""
    c = env.client
    _, alice = env.user("alice")
    templates = {t["name"]: t for t in c.get(f"{API}/workflows/templates",
                                             headers=alice).json()}
    assert templates[PRICE_TEMPLATE]["trigger_type"] == "price"
    first = c.post(f"{API}/workflows/from-template", headers=alice,
                   json={"template": PRICE_TEMPLATE})
    assert first.status_code == 201 and first.json()["name"] == PRICE_TEMPLATE
    second = c.post(f"{API}/workflows/from-template", headers=alice, json={
        "template": PRICE_TEMPLATE, "trigger_type": "price",
        "params": {"symbol": "EURUSD", "condition": "price > 1.25"}}).json()
    assert second["name"] == f"{PRICE_TEMPLATE} (2)"
    trigger = second["definition"]["nodes"][0]
    assert (trigger["type"], trigger["params"]["condition"]) == ("price_trigger",
                                                                 "price > 1.25")
    bad = c.post(f"{API}/workflows/from-template", headers=alice, json={
        "template": PRICE_TEMPLATE, "trigger_type": "price",
        "params": {"symbol": "EURUSD", "condition": "price >> 1"}})
    assert bad.status_code == 422 and bad.json()["field"] == "trigger_config.condition"
    assert bad.json()["position"] == 7
    unknown = c.post(f"{API}/workflows/from-template", headers=alice,
                     json={"template": "No Such Strategy"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "template"
    assert c.get(f"{API}/workflows", headers=alice).json()["total"] == 2


def test_set_the_trigger_node(env):
    """PUT /workflows/{id}/trigger writes the trigger node (bumping the version) so that the
    workflow can be scheduled as it is; a condition the trigger cannot run is 422 and the
    workflow stays as it was."""
    c = env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice)  # a cron workflow
    resp = c.put(f"{API}/workflows/{wf}/trigger", headers=alice, json={
        "trigger_type": "price", "params": {"symbol": "EURUSD", "condition": "price > 1.2"}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["version"] == 2 and body["definition"]["nodes"][0]["type"] == "price_trigger"
    assert env.schedule(alice, wf, "price")["trigger_config"]["condition"] == "price > 1.2"
    bad = c.put(f"{API}/workflows/{wf}/trigger", headers=alice, json={
        "trigger_type": "price", "params": {"symbol": "EURUSD", "condition": "rsi < 30"}})
    assert bad.status_code == 422 and bad.json()["field"] == "trigger_config.condition"
    assert c.get(f"{API}/workflows/{wf}", headers=alice).json()["version"] == 2


def test_validate_gives_parallel_levels(env):
    """Validation answers the trigger node type and the nodes by parallel level."""
    c = env.client
    _, alice = env.user("alice")
    wf = c.get(f"{API}/workflows/{env.workflow(alice, PRICE_TEMPLATE)}", headers=alice).json()
    check = c.post(f"{API}/workflows/validate", headers=alice,
                   json={"definition": wf["definition"]}).json()
    assert check["valid"] and check["trigger_node_type"] == "price_trigger"
    assert [n["id"] for n in check["levels"][0]] == ["trigger"]
    assert sum(len(level) for level in check["levels"]) == len(wf["definition"]["nodes"])
