"""Live trading through the REST API and the facade, against a local fake Binance:
credentials (encrypted, never shown), live orders from a workflow node, each safety limit,
concurrent orders against the day counters, and the kill switch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from agentic_app.broker.base import OrderRequest
from agentic_app.db.broker_models import ExchangeCredential, LiveOrder
from agentic_app.db.models import ScheduledJob
from agentic_app.domain.errors import LimitExceededError
from agentic_app.domain.workflow import validate_workflow
from agentic_app.engine.events.sink import MemorySink
from agentic_app.engine.executor.runner import execute_sync
from agentic_app.nodes.library import registry
from agentic_app.services.app import Actor
from tests.api.conftest import API, CRON_TEMPLATE, ApiEnv
from tests.fakes.broker_env import CREDENTIAL, KEY, SECRET, alice_with_credential
from tests.fakes.broker_env import benv as benv  # re-exported fixtures
from tests.fakes.broker_env import fake as fake


def _order(uid: int, key: str, qty: float = 0.01) -> OrderRequest:
    return OrderRequest(user_id=uid, symbol="BTCUSDT", side="buy", quantity=qty,
                        idempotency_key=key, broker="binance")


def _limits(env: ApiEnv, headers: dict[str, str], **values) -> dict:
    resp = env.client.put(f"{API}/broker/limits", json=values, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_credentials_are_encrypted_masked_and_one_per_exchange(benv):
    _uid, headers = alice_with_credential(benv)
    [view] = benv.client.get(f"{API}/broker/credentials", headers=headers).json()
    assert view["key_hint"] == "…6789" and view["sandbox"] is True
    assert set(view) == {"id", "exchange", "label", "sandbox", "key_hint", "created_at"}
    with Session(benv.services.db.engine) as s:
        row = s.exec(select(ExchangeCredential)).one()
    assert KEY not in row.api_key_enc and SECRET not in row.secret_enc
    cipher = benv.services.broker.live.cipher
    assert (cipher.decrypt(row.api_key_enc), cipher.decrypt(row.secret_enc)) == (KEY, SECRET)
    again = benv.client.post(f"{API}/broker/credentials", json=CREDENTIAL, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "exchange"
    mainnet = benv.client.post(f"{API}/broker/credentials", headers=headers,
                               json={**CREDENTIAL, "sandbox": False})
    assert mainnet.status_code == 422 and mainnet.json()["field"] == "sandbox"
    gone = benv.client.delete(f"{API}/broker/credentials/{view['id']}", headers=headers)
    assert gone.status_code == 204
    assert benv.client.get(f"{API}/broker/credentials", headers=headers).json() == []


def test_workflow_order_node_trades_live_and_is_listed(benv, fake):
    uid, headers = alice_with_credential(benv)
    spec = validate_workflow({"nodes": [{"id": "buy", "type": "market_order", "params": {
        "symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "broker": "binance"}}],
        "edges": []}, registry)
    result = execute_sync(spec, registry=registry, services=benv.services.node_services,
                          sink=MemorySink(), execution_id=41, user_id=uid, workflow_id=1,
                          trigger_payload={})
    out = result.nodes["buy"].output
    assert out["status"] == "filled" and out["avg_fill_price"] == pytest.approx(50_000)
    assert len(fake.order_posts()) == 1 and fake.free(KEY, "BTC") == pytest.approx(1.01)
    page = benv.client.get(f"{API}/broker/orders", headers=headers).json()
    assert page["total"] == 1
    assert page["items"][0]["status"] == "filled" and page["items"][0]["execution_id"] == 41
    account = benv.client.get(f"{API}/broker/account?exchange=binance", headers=headers)
    assert account.status_code == 200
    assert account.json()["balances"]["BTC"]["total"] == pytest.approx(1.01)


def _refused(env: ApiEnv, uid: int, key: str, limit: str, qty: float = 0.01) -> None:
    with pytest.raises(LimitExceededError) as info:
        env.services.node_services.broker.place_order(_order(uid, key, qty))
    assert info.value.limit == limit


def test_max_order_notional(benv, fake):
    uid, headers = alice_with_credential(benv)
    _limits(benv, headers, max_order_notional=100)
    _refused(benv, uid, "n1", "max_order_notional")
    [row] = benv.client.get(f"{API}/broker/orders?status=rejected", headers=headers).json()[
        "items"]
    assert row["reason"].startswith("max_order_notional:") and "500.00" in row["reason"]
    assert fake.order_posts() == []
    broker = benv.services.node_services.broker
    assert broker.place_order(_order(uid, "n2", 0.001)).status == "filled"  # 50 <= 100


def test_max_orders_per_day(benv, fake):
    uid, headers = alice_with_credential(benv)
    _limits(benv, headers, max_orders_per_day=2)
    broker = benv.services.node_services.broker
    for key in ("o1", "o2"):
        assert broker.place_order(_order(uid, key)).status == "filled"
    _refused(benv, uid, "o3", "max_orders_per_day")
    assert len(fake.order_posts()) == 2
    inbox, _ = benv.services.alerts.inbox(Actor(id=uid))
    assert [n["kind"] for n in inbox] == ["daily_limit", "order_filled", "order_filled"]
    assert "max_orders_per_day" in inbox[0]["title"]
    today = benv.client.get(f"{API}/broker/limits", headers=headers).json()["today"]
    assert today["orders"] == 2 and today["turnover"] == pytest.approx(1000)


def test_max_turnover_per_day(benv, fake):
    uid, headers = alice_with_credential(benv)
    _limits(benv, headers, max_turnover_per_day=1000)
    broker = benv.services.node_services.broker
    for key in ("t1", "t2"):
        assert broker.place_order(_order(uid, key)).status == "filled"
    _refused(benv, uid, "t3", "max_turnover_per_day")
    assert len(fake.order_posts()) == 2


def test_max_daily_loss(benv, fake):
    uid, headers = alice_with_credential(benv)
    _limits(benv, headers, max_daily_loss=100)
    broker = benv.services.node_services.broker
    assert broker.place_order(_order(uid, "l1")).status == "filled"  # equity measured: 60k
    fake.prices["BTCUSDT"] = 49_800.0  # 1.01 BTC lose 202 USDT
    _refused(benv, uid, "l2", "max_daily_loss")
    assert len(fake.order_posts()) == 1


def test_concurrent_orders_never_pass_the_daily_count(benv, fake):
    uid, headers = alice_with_credential(benv)
    _limits(benv, headers, max_orders_per_day=3)
    broker = benv.services.node_services.broker
    placed, refused = [], []

    def attempt(i: int) -> None:
        try:
            placed.append(broker.place_order(_order(uid, f"c{i}")))
        except LimitExceededError as exc:
            refused.append(exc.limit)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(placed) == 3 and refused == ["max_orders_per_day"] * 5
    assert len(fake.order_posts()) == 3


def test_limits_only_tighten_the_defaults(benv):
    _uid, headers = benv.user("alice")
    defaults = benv.client.get(f"{API}/broker/limits", headers=headers).json()["defaults"]
    too_high = benv.client.put(f"{API}/broker/limits", headers=headers,
                               json={"max_daily_loss": defaults["max_daily_loss"] * 2})
    assert too_high.status_code == 422 and too_high.json()["field"] == "max_daily_loss"
    body = _limits(benv, headers, max_daily_loss=10)
    assert body["effective"]["max_daily_loss"] == 10 and body["overrides"]["max_daily_loss"] == 10
    body = _limits(benv, headers, max_daily_loss=None)
    assert body["effective"]["max_daily_loss"] == defaults["max_daily_loss"]
    bad = benv.client.put(f"{API}/broker/limits", headers=headers,
                          json={"max_orders_per_day": 0})
    assert bad.status_code == 422


def test_kill_switch_pauses_cancels_and_refuses_until_rearmed(benv, fake):
    uid, headers = alice_with_credential(benv)
    wf = benv.workflow(headers, CRON_TEMPLATE)
    job = benv.schedule(headers, wf, "cron", cron_expression="0 9 * * *")
    later = benv.schedule(headers, benv.workflow(headers, CRON_TEMPLATE), "cron",
                          cron_expression="0 10 * * *")
    resume_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert benv.client.post(f"{API}/scheduler/jobs/{later['id']}/pause", headers=headers,
                            json={"resume_at": resume_at}).status_code == 200
    broker = benv.services.node_services.broker
    paper = broker.place_order(OrderRequest(user_id=uid, symbol="BTCUSDT", side="buy",
                                            quantity=0.01, idempotency_key="p1",
                                            order_type="limit", limit_price=1.0))
    assert paper.status == "open"
    live = broker.place_order(OrderRequest(
        user_id=uid, symbol="BTCUSDT", side="buy", quantity=0.01, idempotency_key="k1",
        order_type="limit", limit_price=40_000.0, broker="binance"))
    assert live.status == "open"
    resp = benv.client.post(f"{API}/broker/kill-switch", json={"reason": "test"},
                            headers=headers)
    assert resp.status_code == 200, resp.text
    state = resp.json()
    assert state["engaged"] and state["reason"] == "test"
    report = state["report"]
    assert report["paused_schedules"] == [job["id"]] and report["errors"] == []
    assert report["resume_cancelled"] == [later["id"]]  # nothing comes back while halted
    assert report["cancelled_paper_orders"] == [paper.order_id]
    assert len(report["cancelled_live_orders"]["binance"]) == 1
    with Session(benv.services.db.engine) as s:
        paused = s.get(ScheduledJob, job["id"])
        assert paused.is_active is False and paused.pause_note == "kill switch"
        assert paused.paused_at is not None
        assert s.get(ScheduledJob, later["id"]).resume_at is None
        assert s.exec(select(LiveOrder)).one().status == "cancelled"
    assert all(o.status == "CANCELED" for o in fake.orders.values())
    assert broker.paper.get_order("p1").status == "cancelled"
    run = benv.client.post(f"{API}/workflows/{wf}/run", headers=headers)
    assert run.status_code == 409 and run.json()["field"] == "kill_switch"
    for venue in ("paper", "binance"):
        with pytest.raises(LimitExceededError) as info:
            broker.place_order(OrderRequest(user_id=uid, symbol="BTCUSDT", side="buy",
                                            quantity=0.01, idempotency_key=f"after-{venue}",
                                            broker=venue))
        assert info.value.limit == "kill_switch"
    posts = len(fake.order_posts())
    rearmed = benv.client.post(f"{API}/broker/kill-switch/rearm", headers=headers).json()
    assert rearmed["engaged"] is False and rearmed["rearmed_at"]
    assert benv.client.post(f"{API}/workflows/{wf}/run", headers=headers).status_code == 202
    assert broker.place_order(_order(uid, "after-rearm")).status == "filled"
    resumed = benv.client.post(f"{API}/scheduler/jobs/{job['id']}/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["is_active"] is True
    assert len(fake.order_posts()) == posts + 1


def test_kill_switch_cancels_more_pending_runs_than_one_bulk(benv, fake):
    """More pending runs than MAX_BULK (rows written directly): every one is cancelled."""
    from agentic_app.db.models import JobQueueEntry
    from agentic_app.services.queue import MAX_BULK

    uid, headers = alice_with_credential(benv)
    wf = benv.workflow(headers, CRON_TEMPLATE)
    count = MAX_BULK + 7
    with Session(benv.services.db.engine) as s:
        s.add_all([JobQueueEntry(workflow_id=wf, user_id=uid) for _ in range(count)])
        s.commit()
    resp = benv.client.post(f"{API}/broker/kill-switch", json={}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["report"]["cancelled_jobs"] == count
    with Session(benv.services.db.engine) as s:
        statuses = set(s.exec(select(JobQueueEntry.status).where(JobQueueEntry.user_id == uid)))
    assert statuses == {"cancelled"}
    inbox, _ = benv.services.alerts.inbox(Actor(id=uid))
    assert [n["kind"] for n in inbox] == ["kill_switch"]  # an alert: bell and channels too
    assert f"{count} queued run(s) cancelled" in inbox[0]["body"]


def _sized_order(sized_on: str) -> dict:
    return {"nodes": [
        {"id": "size", "type": "position_size", "params": {
            "symbol": "BTCUSDT", "risk_pct": 0.1, "stop_pct": 10.0, "broker": sized_on}},
        {"id": "buy", "type": "market_order", "params": {
            "symbol": "BTCUSDT", "side": "buy", "broker": "binance"}}],
        "edges": [{"from": "size", "to": "buy"}]}


def test_a_live_order_is_sized_from_the_exchange_account(benv, fake):
    """position_size on binance risks the exchange equity (10 000 USDT + 1 BTC at 50 000);
    sized from paper equity, a live order node refuses instead of trading that size."""
    uid, _headers = alice_with_credential(benv)

    def run(sized_on: str, execution_id: int):
        spec = validate_workflow(_sized_order(sized_on), registry)
        return execute_sync(spec, registry=registry, services=benv.services.node_services,
                            sink=MemorySink(), execution_id=execution_id, user_id=uid,
                            workflow_id=1, trigger_payload={})

    live = run("binance", 51)
    size = live.nodes["size"].output
    assert size["equity"] == pytest.approx(60_000.0) and size["sized_on"] == "binance"
    assert live.nodes["buy"].output is not None, live.nodes["buy"].error
    assert live.nodes["buy"].output["status"] == "filled"
    assert len(fake.order_posts()) == 1
    mixed = run("paper", 52)
    assert mixed.nodes["buy"].status == "failed"
    assert "computed from the paper account" in (mixed.nodes["buy"].error or "")
    assert len(fake.order_posts()) == 1
