"""Portfolio and alert-only routes: shapes, links, and who may see or change what
(anonymous refused, other users' accounts, executions, schedules and workflows invisible,
oversized or malformed input a 4xx naming the field with nothing changed)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from agentic_app.broker.base import OrderRequest
from agentic_app.db.engine import session_scope
from agentic_app.db.models import Workflow, WorkflowExecution
from tests.api.conftest import API, PRICE_TEMPLATE

ROUTES = [("GET", "/portfolio/accounts"), ("GET", "/portfolio/accounts/paper"),
          ("GET", "/portfolio/accounts/paper/orders"), ("GET", "/portfolio/accounts/paper/equity"),
          ("GET", "/portfolio/executions/1/orders"), ("GET", "/portfolio/alert-orders"),
          ("PUT", "/scheduler/jobs/1/alert-only"), ("PUT", "/workflows/1/alert-only")]


def _trade(env, user_id: int, execution_id: int | None, key: str, side: str = "buy") -> None:
    env.services.node_services.broker.place_order(OrderRequest(
        user_id=user_id, symbol="EURUSD", side=side, quantity=0.1, idempotency_key=key,
        execution_id=execution_id, node_id="buy"))


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_is_refused(env, method, path):
    """Every portfolio and alert-only route needs a bearer token (401)."""
    resp = env.client.request(method, f"{API}{path}", json={"alert_only": True})
    assert resp.status_code == 401


def test_account_orders_links_and_isolation(env):
    """A user sees their own account, orders with fills, execution and schedule; another
    user sees an empty account and a 404 for the first user's execution."""
    ann, ann_h = env.user("ann")
    _, bob_h = env.user("bob")
    wf = env.workflow(ann_h, PRICE_TEMPLATE)
    job = env.schedule(ann_h, wf, "price")
    with session_scope(env.db_url) as s:
        ex = WorkflowExecution(workflow_id=wf, user_id=ann, status="completed",
                               scheduled_job_id=job["id"])
        s.add(ex)
        s.flush()
        ex_id = ex.id
    _trade(env, ann, ex_id, f"{ex_id}:buy")

    account = env.client.get(f"{API}/portfolio/accounts/paper", headers=ann_h).json()
    assert account["fill_count"] == 1 and account["positions"][0]["symbol"] == "EURUSD"
    assert account["cash"] < account["starting_cash"]
    orders = env.client.get(f"{API}/portfolio/accounts/paper/orders", headers=ann_h).json()
    [order] = orders["items"]
    assert (order["execution_id"], order["scheduled_job_id"], order["workflow_id"]) == (
        ex_id, job["id"], wf)
    assert len(order["fills"]) == 1 and "user_id" not in order["fills"][0]
    filtered = env.client.get(f"{API}/portfolio/accounts/paper/orders",
                              params={"scheduled_job_id": job["id"]}, headers=ann_h).json()
    assert filtered["total"] == 1
    linked = env.client.get(f"{API}/portfolio/executions/{ex_id}/orders", headers=ann_h)
    assert linked.status_code == 200 and linked.json()["orders"][0]["id"] == order["id"]
    curve = env.client.get(f"{API}/portfolio/accounts/paper/equity", params={"points": 5},
                           headers=ann_h).json()
    assert len(curve["points"]) == 5

    theirs = env.client.get(f"{API}/portfolio/accounts/paper", headers=bob_h).json()
    assert theirs["fill_count"] == 0 and theirs["positions"] == []
    assert theirs["cash"] == theirs["starting_cash"]
    assert env.client.get(f"{API}/portfolio/accounts/paper/orders",
                          headers=bob_h).json()["total"] == 0
    assert env.client.get(f"{API}/portfolio/executions/{ex_id}/orders",
                          headers=bob_h).status_code == 404
    assert env.client.get(f"{API}/portfolio/accounts/paper/orders",
                          params={"execution_id": ex_id}, headers=bob_h).json()["items"] == []


def test_alert_only_toggles_are_owner_only(env):
    """Owners switch alert-only on a job and a workflow; another user gets 404 and the flags
    stay as they were."""
    _, ann_h = env.user("ann")
    _, bob_h = env.user("bob")
    wf = env.workflow(ann_h, PRICE_TEMPLATE)
    job = env.schedule(ann_h, wf, "price")
    on = {"alert_only": True}
    assert env.client.put(f"{API}/scheduler/jobs/{job['id']}/alert-only", json=on,
                          headers=bob_h).status_code == 404
    assert env.client.put(f"{API}/workflows/{wf}/alert-only", json=on,
                          headers=bob_h).status_code == 404
    assert env.client.get(f"{API}/scheduler/jobs/{job['id']}",
                          headers=ann_h).json()["alert_only"] is False
    resp = env.client.put(f"{API}/scheduler/jobs/{job['id']}/alert-only", json=on,
                          headers=ann_h)
    assert resp.status_code == 200 and resp.json()["alert_only"] is True
    resp = env.client.put(f"{API}/workflows/{wf}/alert-only", json=on, headers=ann_h)
    assert resp.status_code == 200 and resp.json()["alert_only"] is True
    with session_scope(env.db_url) as s:
        assert s.exec(select(Workflow.alert_only).where(Workflow.id == wf)).one() is True


@pytest.mark.parametrize(("method", "path", "params", "body", "status", "field"), [
    ("GET", "/portfolio/accounts/paper/equity", {"points": 10**6}, None, 422, "points"),
    ("GET", "/portfolio/accounts/" + "a" * 1000, None, None, 422, "account"),
    ("GET", "/portfolio/accounts/other", None, None, 404, "account"),
    ("GET", "/portfolio/accounts/paper/orders", {"limit": 10**6}, None, 422, "limit"),
    ("GET", "/portfolio/accounts/paper/orders", {"status": "x" * 500}, None, 422, "status"),
    ("PUT", "/scheduler/jobs/{job}/alert-only", None, {"alert_only": "yes"}, 422,
     "alert_only"),
    ("PUT", "/workflows/{wf}/alert-only", None, {"alert_only": True, "x": 1}, 422, "x"),
    ("PUT", "/workflows/{wf}/alert-only", None, {"alert_only": True, "pad": "x" * (2 << 20)},
     413, None),
])
def test_bad_and_oversized_input(env, method, path, params, body, status, field):
    """Bad or oversized input is a 4xx naming the field; nothing changes."""
    _, ann_h = env.user("ann")
    wf = env.workflow(ann_h, PRICE_TEMPLATE)
    job = env.schedule(ann_h, wf, "price")
    resp = env.client.request(method, f"{API}{path.format(job=job['id'], wf=wf)}",
                              params=params, json=body, headers=ann_h)
    assert resp.status_code == status, resp.text
    if field:
        assert field in resp.text
    assert env.client.get(f"{API}/scheduler/jobs/{job['id']}",
                          headers=ann_h).json()["alert_only"] is False
    with session_scope(env.db_url) as s:
        assert s.exec(select(Workflow.alert_only).where(Workflow.id == wf)).one() is False


def test_account_beyond_the_replay_limit_says_truncated(env, monkeypatch):
    """With more fills than MAX_FILLS, only the newest are replayed and both the summary and
    the equity curve say ``truncated`` (at the limit, they do not)."""
    from agentic_app.services import portfolio

    monkeypatch.setattr(portfolio, "MAX_FILLS", 2)
    ann, ann_h = env.user("ann")
    for i in range(2):
        _trade(env, ann, None, f"t:{i}")
    account = env.client.get(f"{API}/portfolio/accounts/paper", headers=ann_h).json()
    assert account["fill_count"] == 2 and account["truncated"] is False
    _trade(env, ann, None, "t:2", side="sell")
    account = env.client.get(f"{API}/portfolio/accounts/paper", headers=ann_h).json()
    assert account["fill_count"] == 2 and account["truncated"] is True
    curve = env.client.get(f"{API}/portfolio/accounts/paper/equity", headers=ann_h).json()
    assert curve["truncated"] is True
