"""Security walks over EVERY route (introspected, so a new route without a case fails):
another user's ids are 404 and change nothing; no token is 401 except on public routes;
unknown ids are 404; oversized bodies are 413 before parsing."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.websockets import WebSocketDisconnect

from agentic_app.api.app import API_PREFIX, PUBLIC_ROUTES
from agentic_app.broker.base import OrderRequest
from tests.api.conftest import API

UNKNOWN_ID = 987654


def api_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every REST route and ("WS", path) of every WebSocket route."""
    out = set()
    for context in iter_route_contexts(app.routes):  # flattens included routers
        route = context.original_route
        if isinstance(route, APIRoute) and context.path.startswith(API_PREFIX):
            out |= {(m, context.path) for m in context.methods or () if m != "HEAD"}
        elif isinstance(route, APIWebSocketRoute):
            out.add(("WS", context.path))
    return out


def p(path: str) -> str:
    """The full path of a route."""
    return f"{API_PREFIX}{path}"


# routes taking another user's id: (method, path) -> request body
ID_ROUTES: dict[tuple[str, str], dict | None] = {
    ("GET", p("/workflows/{workflow_id}")): None,
    ("PUT", p("/workflows/{workflow_id}")): {"name": "hijacked", "is_active": False},
    ("DELETE", p("/workflows/{workflow_id}")): None,
    ("POST", p("/workflows/{workflow_id}/run")): None,
    ("PUT", p("/workflows/{workflow_id}/trigger")): {
        "trigger_type": "cron", "params": {"cron_expression": "0 10 * * *"}},
    ("GET", p("/scheduler/jobs/{job_id}")): None,
    ("PUT", p("/scheduler/jobs/{job_id}")): {"name": "hijacked"},
    ("DELETE", p("/scheduler/jobs/{job_id}")): None,
    ("POST", p("/scheduler/jobs/{job_id}/toggle")): None,
    ("POST", p("/scheduler/jobs/{job_id}/pause")): {"note": "hijacked"},
    ("POST", p("/scheduler/jobs/{job_id}/resume")): None,
    ("POST", p("/scheduler/jobs/{job_id}/skip")): {"count": 3},
    ("POST", p("/scheduler/jobs/{job_id}/run")): None,
    ("GET", p("/scheduler/jobs/{job_id}/history")): None,
    ("POST", p("/scheduler/jobs/{job_id}/webhook-secret/rotate")): None,
    ("GET", p("/monitoring/executions/{execution_id}")): None,
    ("GET", p("/monitoring/executions/{execution_id}/timeline")): None,
    ("GET", p("/monitoring/executions/{execution_id}/metrics")): None,
    ("GET", p("/queue/jobs/{job_id}")): None,
    ("POST", p("/queue/jobs/{job_id}/cancel")): None,
    ("POST", p("/queue/jobs/{job_id}/retry")): None,
    ("DELETE", p("/auth/tokens/{token_id}")): None,
    ("PUT", p("/workflows/{workflow_id}/alert-only")): {"alert_only": True},
    ("PUT", p("/scheduler/jobs/{job_id}/alert-only")): {"alert_only": True},
    ("GET", p("/portfolio/executions/{execution_id}/orders")): None,
    ("GET", p("/notifications/channels/{channel_id}")): None,
    ("PATCH", p("/notifications/channels/{channel_id}")): {"name": "hijacked", "enabled": False},
    ("DELETE", p("/notifications/channels/{channel_id}")): None,
    ("POST", p("/notifications/channels/{channel_id}/test")): None,
    ("POST", p("/notifications/{notification_id}/read")): None,
    ("DELETE", p("/broker/credentials/{credential_id}")): None,
    ("POST", p("/broker/orders/{order_id}/cancel")): None,
}
# list routes: what the second user sees must not contain the first user's objects
LIST_ROUTES = {
    ("GET", p("/workflows")), ("GET", p("/scheduler/jobs")), ("GET", p("/monitoring/active")),
    ("GET", p("/monitoring/executions")), ("GET", p("/queue/pending")),
    ("GET", p("/queue/jobs")), ("GET", p("/auth/tokens")),
    ("GET", p("/notifications")), ("GET", p("/notifications/channels")),
    ("GET", p("/portfolio/alert-orders")),
    ("GET", p("/broker/orders")),
}
# routes that take no id of an object (ownership cannot apply), each with why
NO_ID_ROUTES = {
    ("POST", p("/workflows")): "creates the caller's own workflow",
    ("POST", p("/workflows/validate")): "stores nothing",
    ("GET", p("/workflows/templates")): "the shared templates",
    ("POST", p("/workflows/from-template")): "creates the caller's own workflow",
    ("POST", p("/scheduler/jobs")): "workflow_id in the body: walked below",
    ("GET", p("/scheduler/preview")): "stores nothing",
    ("POST", p("/scheduler/preview/chart")): "stores nothing",
    ("GET", p("/queue/status")): "the caller's own counts: walked below",
    ("GET", p("/queue/throughput")): "the caller's own counts: walked below",
    ("POST", p("/queue/jobs/bulk-retry")): "job ids in the body: walked below",
    ("POST", p("/queue/jobs/bulk-cancel")): "job ids in the body: walked below",
    ("POST", p("/auth/login")): "public",
    ("POST", p("/auth/logout")): "revokes the caller's own token",
    ("GET", p("/auth/me")): "the caller",
    ("POST", p("/auth/tokens")): "creates the caller's own token",
    ("POST", p("/auth/users")): "admins only; creates a new account",
    ("GET", p("/health")): "public",
    ("GET", p("/metrics")): "admins only, aggregate figures",
    ("POST", p("/webhooks/{token}")): "public, authenticated by the job's signature",
    ("POST", p("/webhooks/{token}/{secret}")): "public, the TradingView secret URL",
    ("WS", p("/monitoring/executions/{execution_id}")): "walked below (close 4404)",
    ("WS", p("/monitoring/events")): "the caller's own executions (tests/api/test_monitoring)",
    ("POST", p("/scheduler/preview")): "stores nothing",
    ("POST", p("/scheduler/backtest")): "stores nothing; job_id: tests/api/test_backtest",
    ("GET", p("/notifications/kinds")): "the alert kinds every user has",
    ("POST", p("/notifications/channels")): "creates the caller's own channel",
    ("GET", p("/notifications/unread-count")): "the caller's own count: walked below",
    ("POST", p("/notifications/read-all")): "marks the caller's own inbox: walked below",
    ("GET", p("/portfolio/accounts")): "the caller's own accounts: walked below",
    ("GET", p("/portfolio/accounts/{account}")): "the caller's own account: walked below",
    ("GET", p("/portfolio/accounts/{account}/orders")): "the caller's own orders: walked below",
    ("GET", p("/portfolio/accounts/{account}/equity")): "the caller's own equity: walked below",
    ("GET", p("/broker/exchanges")): "the supported exchanges",
    ("GET", p("/broker/credentials")): "the caller's own (masked): walked below",
    ("POST", p("/broker/credentials")): "stores the caller's own credential",
    ("GET", p("/broker/account")): "the caller's own exchange account (their credential)",
    ("GET", p("/broker/limits")): "the caller's own limits: walked below",
    ("PUT", p("/broker/limits")): "the caller's own limits",
    ("GET", p("/broker/kill-switch")): "the caller's own kill switch: walked below",
    ("POST", p("/broker/kill-switch")): "halts the caller only (tests/security/"
                                        "test_broker_security)",
    ("POST", p("/broker/kill-switch/rearm")): "re-arms the caller only",
}


@pytest.fixture
def world(env):
    """Alice's workflow, scheduled job, queued job + execution, API token, notification
    channel, inbox entry and a paper order of that execution; Bob's token."""
    c = env.client
    alice_id, alice = env.user("alice")
    _, bob = env.user("bob")
    wf = env.workflow(alice)
    sched = env.schedule(alice, wf, "cron", cron_expression="0 9 * * *")
    job = env.run(alice, wf)
    token = c.post(f"{API}/auth/tokens", headers=alice, json={"name": "extra"}).json()
    channel = c.post(f"{API}/notifications/channels", headers=alice, json={
        "name": "hook", "url": "json://93.184.216.34:8443/hook", "kinds": ["order_filled"]})
    assert channel.status_code == 201, channel.text
    notification_id = env.services.alerts.emit(alice_id, "execution_failed", "it failed")
    env.services.node_services.broker.place_order(OrderRequest(
        user_id=alice_id, symbol="EURUSD", side="buy", quantity=0.1,
        idempotency_key=f"{job['execution_id']}:buy", execution_id=job["execution_id"],
        node_id="buy"))
    cred = c.post(f"{API}/broker/credentials", headers=alice, json={
        "exchange": "binance", "api_key": "alice-key-12345678", "secret": "alice-secret-1234"})
    order_id = _live_order(env, cred.json()["id"])
    ids = {"workflow_id": wf, "execution_id": job["execution_id"], "token_id": token["id"],
           "channel_id": channel.json()["id"], "notification_id": notification_id,
           "credential_id": cred.json()["id"], "order_id": order_id}
    return env, alice, bob, ids, {"scheduler": sched["id"], "queue": job["id"]}


def _live_order(env, credential_id: int) -> int:
    """A resting live order row of the credential's owner (no exchange is asked for it)."""
    from sqlmodel import Session

    from agentic_app.db.broker_models import ExchangeCredential, LiveOrder

    with Session(env.services.db.engine) as s:
        cred = s.get(ExchangeCredential, credential_id)
        row = LiveOrder(user_id=cred.user_id, credential_id=credential_id, exchange="binance",
                        symbol="BTCUSDT", side="buy", order_type="limit", quantity=0.01,
                        limit_price=40_000.0, notional=400.0, status="open",
                        idempotency_key="world:buy", client_order_id="ag-world")
        s.add(row)
        s.commit()
        return int(row.id)


def _url(path: str, ids: dict, job_ids: dict) -> str:
    job_id = job_ids["scheduler"] if "/scheduler/" in path else job_ids["queue"]
    return path.format(**ids, job_id=job_id, account="paper")


def _snapshot(env, alice, ids, job_ids) -> dict:
    c = env.client
    tokens = c.get(f"{API}/auth/tokens?include_revoked=true", headers=alice).json()["items"]
    return {
        "workflow": c.get(f"{API}/workflows/{ids['workflow_id']}", headers=alice).json(),
        "schedule": c.get(f"{API}/scheduler/jobs/{job_ids['scheduler']}", headers=alice).json(),
        "job": c.get(f"{API}/queue/jobs/{job_ids['queue']}", headers=alice).json(),
        "execution": c.get(f"{API}/monitoring/executions/{ids['execution_id']}",
                           headers=alice).json(),
        "tokens": [{k: v for k, v in t.items() if k != "last_used_at"} for t in tokens],
        "channels": c.get(f"{API}/notifications/channels", headers=alice).json(),
        "inbox": c.get(f"{API}/notifications", headers=alice).json(),
        "orders": c.get(f"{API}/portfolio/accounts/paper/orders", headers=alice).json(),
        "credentials": c.get(f"{API}/broker/credentials", headers=alice).json(),
        "live_orders": c.get(f"{API}/broker/orders", headers=alice).json(),
        "kill_switch": c.get(f"{API}/broker/kill-switch", headers=alice).json(),
        "limits": c.get(f"{API}/broker/limits", headers=alice).json()["overrides"],
    }


def test_every_route_has_a_case(env):
    """Each route of the app is classified: id route, list route, or no-id route."""
    known = set(ID_ROUTES) | LIST_ROUTES | set(NO_ID_ROUTES)
    routes = api_routes(env.app)
    assert routes - known == set(), "new route(s) without an ownership case"
    assert known - routes == set(), "cases for routes that no longer exist"


def test_second_user_gets_404_and_nothing_changes(world):
    """Bob using Alice's ids: 404 on every id route, 4404 on the WebSocket, nothing of
    Alice's in his lists or counts, and Alice's objects exactly as before."""
    env, alice, bob, ids, job_ids = world
    c = env.client
    before = _snapshot(env, alice, ids, job_ids)
    for (method, path), body in ID_ROUTES.items():
        resp = c.request(method, _url(path, ids, job_ids), headers=bob, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    resp = c.post(f"{API}/scheduler/jobs", headers=bob, json={
        "workflow_id": ids["workflow_id"], "trigger_type": "cron",
        "trigger_config": {"cron_expression": "0 9 * * *"}})
    assert resp.status_code == 404
    for action in ("bulk-retry", "bulk-cancel"):
        resp = c.post(f"{API}/queue/jobs/{action}", headers=bob,
                      json={"job_ids": [job_ids["queue"]]})
        assert resp.status_code == 200, resp.text
        assert [(r["job_id"], r["outcome"]) for r in resp.json()["results"]] == [
            (job_ids["queue"], "not_found")]
    for method, path in LIST_ROUTES:
        listed = c.request(method, path, headers=bob).json()
        items = listed["items"] if isinstance(listed, dict) else listed
        assert all(item.get("name") != "extra" for item in items), path
        if path != p("/auth/tokens"):
            assert items == [], path
    assert c.get(f"{API}/broker/credentials", headers=bob).json() == []
    assert c.get(f"{API}/broker/kill-switch", headers=bob).json()["engaged"] is False
    counts = c.get(f"{API}/queue/status", headers=bob).json()["counts"]
    assert set(counts.values()) == {0}
    series = c.get(f"{API}/queue/throughput", headers=bob).json()
    assert {(m["completed"], m["failed"]) for m in series} == {(0, 0)}
    assert c.get(f"{API}/notifications/unread-count", headers=bob).json() == {"unread": 0}
    assert c.post(f"{API}/notifications/read-all", headers=bob).json() == {"marked": 0}
    accounts = c.get(f"{API}/portfolio/accounts", headers=bob).json()
    assert [a.get("fill_count", 0) for a in accounts] == [0] * len(accounts)
    account = c.get(f"{API}/portfolio/accounts/paper", headers=bob).json()
    assert account["fill_count"] == 0 and account["positions"] == []
    assert c.get(f"{API}/portfolio/accounts/paper/orders", headers=bob).json()["total"] == 0
    equity = c.get(f"{API}/portfolio/accounts/paper/equity", headers=bob).json()
    assert {pt["equity"] for pt in equity["points"]} <= {account["starting_cash"]}
    url = _url(p("/monitoring/executions/{execution_id}"), ids, job_ids)
    with c.websocket_connect(url, headers=bob) as ws:
        assert ws.receive_json()["code"] == 4404
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    assert _snapshot(env, alice, ids, job_ids) == before


def test_unknown_ids_are_404(world):
    """The owner asking for ids that do not exist gets 404 on every id route."""
    env, alice, _bob, _ids, _job_ids = world
    unknown = {"workflow_id": UNKNOWN_ID, "execution_id": UNKNOWN_ID, "token_id": UNKNOWN_ID,
               "channel_id": UNKNOWN_ID, "notification_id": UNKNOWN_ID,
               "credential_id": UNKNOWN_ID, "order_id": UNKNOWN_ID}
    for (method, path), body in ID_ROUTES.items():
        url = _url(path, unknown, {"scheduler": UNKNOWN_ID, "queue": UNKNOWN_ID})
        resp = env.client.request(method, url, headers=alice, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["type"] == "NotFoundError"


def test_no_token_is_401_except_public_routes(world):
    """Without a token (or with a bad one) every non-public route is 401; public ones are
    not; the WebSocket closes with 4401."""
    env, _alice, _bob, ids, job_ids = world
    for method, path in api_routes(env.app):
        if method == "WS" or (method, path) in PUBLIC_ROUTES:
            continue
        url = _url(path, ids, job_ids)
        for headers in ({}, {"Authorization": "Bearer agt_not-a-token"},
                        {"Authorization": "Basic Zm9vOmJhcg=="}):
            resp = env.client.request(method, url, headers=headers, json={})
            assert resp.status_code == 401, (method, path, headers, resp.text)
    assert env.client.get(f"{API}/health").status_code == 200
    resp = env.client.post(f"{API}/auth/login", json={"username": "x", "password": "y"})
    assert resp.status_code == 401  # wrong credentials, not "token required"
    assert env.client.post(f"{API}/webhooks/unknown", content=b"{}").status_code == 404
    with env.client.websocket_connect(f"{API}/monitoring/executions/{ids['execution_id']}"
                                      ) as ws:
        ws.send_json({"token": "agt_not-a-token"})
        assert ws.receive_json()["code"] == 4401


def test_oversized_bodies_are_413(world):
    """A body over 1 MiB is 413 whether it declares its length or is sent chunked, and
    nothing is created."""
    env, alice, _bob, _ids, _job_ids = world
    big = b'{"name": "x", "definition": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'
    headers = {**alice, "Content-Type": "application/json"}
    resp = env.client.post(f"{API}/workflows", content=big, headers=headers)
    assert resp.status_code == 413 and resp.json()["type"] == "PayloadTooLargeError"

    def chunks():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    resp = env.client.post(f"{API}/workflows", content=chunks(), headers=headers)
    assert resp.status_code == 413
    assert env.client.get(f"{API}/workflows", headers=alice).json()["total"] == 1
