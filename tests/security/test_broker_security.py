"""Live-trading routes attacked: anonymous callers refused on every route, another user's
credentials and orders unreachable, oversized input refused naming the field, and no
response of any route - GET or the writes - ever carries an API key or secret."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from agentic_app.broker.base import OrderRequest
from agentic_app.db.broker_models import LiveOrder
from agentic_app.domain.errors import InvalidInputError
from tests.api.conftest import API, CRON_TEMPLATE
from tests.fakes.broker_env import (
    CREDENTIAL,
    KEY,
    SECRET,
    alice_with_credential,
)
from tests.fakes.broker_env import benv as benv  # re-exported fixtures
from tests.fakes.broker_env import fake as fake


def _broker_routes(env) -> list[tuple[str, str]]:
    spec = env.app.openapi()
    return [(method.upper(), path) for path, ops in spec["paths"].items()
            if path.startswith(f"{API}/broker") for method in ops]


def test_anonymous_is_refused_everywhere(benv):
    routes = _broker_routes(benv)
    assert len(routes) >= 12
    for method, path in routes:
        resp = benv.client.request(method, path.replace("{credential_id}", "1")
                                   .replace("{order_id}", "1"), json={})
        assert resp.status_code == 401, (method, path, resp.status_code)
        bad = benv.client.request(method, path.replace("{credential_id}", "1")
                                  .replace("{order_id}", "1"), json={},
                                  headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401


def _live_order(env, uid: int, key: str, **kw) -> int:
    env.services.node_services.broker.place_order(OrderRequest(
        user_id=uid, symbol="BTCUSDT", side="buy", quantity=0.01, idempotency_key=key,
        broker="binance", **kw))
    with Session(env.services.db.engine) as s:
        return int(s.exec(select(LiveOrder.id).where(LiveOrder.idempotency_key == key)).one())


def test_other_users_credentials_and_orders_are_unreachable(benv, fake):
    alice, alice_h = alice_with_credential(benv)
    _bob, bob_h = benv.user("bob")
    [cred] = benv.client.get(f"{API}/broker/credentials", headers=alice_h).json()
    order_id = _live_order(benv, alice, "a1", order_type="limit", limit_price=40_000.0)
    c = benv.client
    assert c.get(f"{API}/broker/credentials", headers=bob_h).json() == []
    assert c.get(f"{API}/broker/orders", headers=bob_h).json()["total"] == 0
    assert c.delete(f"{API}/broker/credentials/{cred['id']}",
                    headers=bob_h).status_code == 404
    assert c.post(f"{API}/broker/orders/{order_id}/cancel",
                  headers=bob_h).status_code == 404
    account = c.get(f"{API}/broker/account", headers=bob_h)  # bob has no credential
    assert account.status_code == 422 and account.json()["field"] == "broker"
    # bob's live orders never reach alice's account: he has no credential of his own
    with pytest.raises(InvalidInputError) as info:
        _live_order(benv, _bob, "b1")
    assert info.value.field == "broker"
    # bob's kill switch stops bob only
    wf = benv.workflow(alice_h, CRON_TEMPLATE)
    assert c.post(f"{API}/broker/kill-switch", headers=bob_h).json()["engaged"] is True
    assert c.get(f"{API}/broker/kill-switch", headers=alice_h).json()["engaged"] is False
    assert c.post(f"{API}/workflows/{wf}/run", headers=alice_h).status_code == 202
    # alice's order and credential are untouched
    assert [o.status for o in fake.orders.values()] == ["NEW"]
    assert len(c.get(f"{API}/broker/credentials", headers=alice_h).json()) == 1
    assert len(fake.order_posts()) == 1


def test_oversized_and_malformed_input_is_refused_naming_the_field(benv):
    _uid, headers = benv.user("alice")
    c = benv.client
    cases = [
        ({**CREDENTIAL, "api_key": "k" * 257}, "api_key"),
        ({**CREDENTIAL, "secret": "s" * 257}, "secret"),
        ({**CREDENTIAL, "label": "l" * 101}, "label"),
        ({**CREDENTIAL, "exchange": "kraken"}, "exchange"),
        ({**CREDENTIAL, "api_key": "short"}, "api_key"),
        ({**CREDENTIAL, "secret": "has spaces in it"}, "secret"),
    ]
    for body, field in cases:
        resp = c.post(f"{API}/broker/credentials", json=body, headers=headers)
        assert resp.status_code == 422, (field, resp.text)
        assert field in json.dumps(resp.json()), (field, resp.text)
    huge = c.post(f"{API}/broker/credentials", headers=headers,
                  content=b'{"label": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                  )
    assert huge.status_code == 413
    for body, field in (({"max_daily_loss": 1e30}, "max_daily_loss"),
                        ({"max_orders_per_day": -1}, "max_orders_per_day"),
                        ({"max_order_notional": "lots"}, "max_order_notional")):
        resp = c.put(f"{API}/broker/limits", json=body, headers=headers)
        assert resp.status_code == 422 and field in json.dumps(resp.json())
    reason = c.post(f"{API}/broker/kill-switch", json={"reason": "r" * 501}, headers=headers)
    assert reason.status_code == 422
    assert c.get(f"{API}/broker/kill-switch", headers=headers).json()["engaged"] is False
    assert c.get(f"{API}/broker/credentials", headers=headers).json() == []


def test_no_response_of_any_route_carries_a_key_or_secret(benv, fake):
    """After storing a credential, trading live, engaging and re-arming the kill switch,
    every GET route of the whole API (ids filled in) answers without the key or secret."""
    alice, headers = alice_with_credential(benv)
    _live_order(benv, alice, "g1")
    order_id = _live_order(benv, alice, "g2", order_type="limit", limit_price=40_000.0)
    wf = benv.workflow(headers, CRON_TEMPLATE)
    job = benv.schedule(headers, wf, "cron", cron_expression="0 9 * * *")
    c = benv.client
    bodies = [c.post(f"{API}/broker/orders/{order_id}/cancel", headers=headers).text,
              c.post(f"{API}/broker/kill-switch", headers=headers).text,
              c.post(f"{API}/broker/kill-switch/rearm", headers=headers).text,
              c.put(f"{API}/broker/limits", json={"max_daily_loss": 100},
                    headers=headers).text]
    [cred] = c.get(f"{API}/broker/credentials", headers=headers).json()
    ids = {"credential_id": cred["id"], "order_id": order_id, "workflow_id": wf,
           "job_id": job["id"], "execution_id": 1, "token_id": 1}
    spec = benv.app.openapi()
    called = 0
    for path, ops in spec["paths"].items():
        if "get" not in ops or "{token}" in path:
            continue
        url = path
        for name, value in ids.items():
            url = url.replace("{" + name + "}", str(value))
        if "{" in url:
            continue
        resp = c.get(url, headers=headers)
        called += 1
        bodies.append(resp.text)
    assert called >= 20
    text = "\n".join(bodies)
    assert KEY not in text and SECRET not in text
    assert KEY[:-4] not in text and SECRET[:8] not in text
    assert "…6789" in text  # the masked key is what is shown
