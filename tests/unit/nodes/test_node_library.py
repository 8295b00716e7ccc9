"""Built-in node types: params validation, outputs, branching, orders, notifications."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import talib
from sqlmodel import SQLModel, select

import agentic_app.db.models  # noqa: F401
from agentic_app.db.engine import Database, get_engine, session_scope
from agentic_app.db.models import User
from agentic_app.db.trading_models import Notification, PaperOrder
from agentic_app.domain.workflow import WorkflowValidationError, validate_workflow
from agentic_app.engine.events.sink import MemorySink
from agentic_app.engine.executor.node_services import build_node_services
from agentic_app.engine.executor.runner import execute_sync
from agentic_app.market.clock import FixedClock
from agentic_app.nodes.library import registry
from agentic_app.settings import load_settings

AT = datetime(2025, 1, 11, 9, tzinfo=UTC)


@pytest.fixture
def env(tmp_path):
    """A fresh SQLite database with one user, and node services at a fixed clock."""
    url = f"sqlite:///{tmp_path / 'nodes.db'}"
    SQLModel.metadata.create_all(get_engine(url))
    with session_scope(url) as s:
        user = User(username="alice", password_hash="!")
        s.add(user)
        s.flush()
        uid = user.id
    services = build_node_services(load_settings(data_dir=tmp_path, market_speed=1.0,
                                                 market_feed="simulated"),
                                   db=Database(url), clock=FixedClock(AT))
    return url, uid, services


def run(env, nodes, edges, execution_id=1, payload=None):
    _url, uid, services = env
    spec = validate_workflow({"nodes": nodes, "edges": edges}, registry)
    sink = MemorySink()
    result = execute_sync(spec, registry=registry, services=services, sink=sink,
                          execution_id=execution_id, user_id=uid, workflow_id=1,
                          trigger_payload=payload or {}, now=AT)
    return result, sink


BARS = {"id": "bars", "type": "bars", "params": {"symbol": "EURUSD", "timeframe": "1h",
                                                 "count": 120}}


def _problems(definition) -> list:
    with pytest.raises(WorkflowValidationError) as err:
        validate_workflow(definition, registry)
    return err.value.problems


def test_price_trigger_condition_error_is_positioned():
    """A malformed price condition is rejected before running, with its position."""
    probs = _problems({"nodes": [{"id": "t", "type": "price_trigger",
                                  "params": {"symbol": "EURUSD", "condition": "price >> 1.1"}}],
                       "edges": []})
    assert any("position 7" in p.message and p.node_id == "t" for p in probs)


def test_indicator_trigger_unknown_name_rejected():
    """An indicator trigger condition may only use its indicator's names and price."""
    probs = _problems({"nodes": [{"id": "t", "type": "indicator_trigger", "params": {
        "symbol": "EURUSD", "timeframe": "1h", "indicator": "rsi", "condition": "sma < 30"}}],
        "edges": []})
    assert any("unknown name 'sma'" in p.message for p in probs)


@pytest.mark.parametrize(("params", "needle"), [
    ({"symbol": "EURUSD", "stop_distance": 0.01, "stop_pct": 1}, "exactly one"),
    ({"symbol": "EURUSD"}, "exactly one"),
    ({"symbol": "EURUSD", "stop_pct": 1, "risk_pct": 0}, "risk_pct"),
    ({"symbol": "EURUSD", "stop_pct": 1, "bogus": 1}, "bogus"),
])
def test_position_size_params_validated(params, needle):
    """position_size params: one stop kind, risk in (0, 100], no unknown params."""
    probs = _problems({"nodes": [{"id": "s", "type": "position_size", "params": params}],
                       "edges": []})
    assert any(needle in (p.message + (p.field or "")) for p in probs)


def test_rsi_node_matches_talib(env):
    """The RSI node's value and series equal TA-Lib's RSI over the same bars."""
    result, _ = run(env, [BARS, {"id": "rsi", "type": "rsi", "params": {"period": 14}}],
                    [{"from": "bars", "to": "rsi"}])
    close = np.asarray(result.nodes["bars"].output["close"], dtype=float)
    expected = talib.RSI(close, timeperiod=14)
    assert result.nodes["rsi"].output["value"] == pytest.approx(expected[-1], rel=1e-12)
    assert result.nodes["rsi"].output["values"][-5:] == pytest.approx(list(expected[-5:]))


def test_macd_and_bbands_outputs(env):
    """Multi-output indicators expose each output by name, equal to TA-Lib's."""
    result, _ = run(env, [BARS, {"id": "m", "type": "macd", "params": {}},
                          {"id": "bb", "type": "bbands", "params": {"period": 20}}],
                    [{"from": "bars", "to": "m"}, {"from": "bars", "to": "bb"}])
    close = np.asarray(result.nodes["bars"].output["close"], dtype=float)
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    out_m, out_b = result.nodes["m"].output, result.nodes["bb"].output
    assert (out_m["macd"], out_m["signal"], out_m["hist"]) == pytest.approx(
        (macd[-1], signal[-1], hist[-1]))
    assert (out_b["upper"], out_b["middle"], out_b["lower"]) == pytest.approx(
        (upper[-1], middle[-1], lower[-1]))


def test_condition_branches_and_crossing(env):
    """A condition over an indicator series takes a branch; the other branch is skipped."""
    nodes = [BARS, {"id": "rsi", "type": "rsi", "params": {}},
             {"id": "c", "type": "condition",
              "params": {"expression": "rsi < 30 or crosses_below(rsi, 30)"}},
             {"id": "yes", "type": "log", "params": {"message": "oversold at {rsi}"}},
             {"id": "no", "type": "log", "params": {"message": "not oversold"}}]
    edges = [{"from": "bars", "to": "rsi"}, {"from": "rsi", "to": "c"},
             {"from": "c", "to": "yes", "branch": "true"},
             {"from": "c", "to": "no", "branch": "false"}]
    result, sink = run(env, nodes, edges)
    rsi = result.nodes["rsi"].output["value"]
    assert rsi < 30
    assert result.nodes["c"].output["branch"] == "true"
    assert result.nodes["yes"].output["message"] == f"oversold at {rsi:g}"
    assert result.nodes["no"].status == "skipped"
    assert any(e.type == "NodeLog" and e.node_id == "c" for e in sink.events)


def test_condition_unknown_name_fails_fatally(env):
    """A condition naming something no upstream node provides fails, not retryable."""
    result, _ = run(env, [BARS, {"id": "c", "type": "condition",
                                 "params": {"expression": "nosuch > 1"}}],
                    [{"from": "bars", "to": "c"}])
    assert result.status == "failed" and result.error_retryable is False
    assert "nosuch" in result.nodes["c"].error


def test_market_order_idempotent_across_attempts(env):
    """A second attempt of the same execution reuses the order: one order, duplicate flagged."""
    nodes = [{"id": "buy", "type": "market_order",
              "params": {"symbol": "EURUSD", "side": "buy", "quantity": 0.1}}]
    first, _ = run(env, nodes, [], execution_id=7)
    second, _ = run(env, nodes, [], execution_id=7)
    assert first.nodes["buy"].output["duplicate"] is False
    assert second.nodes["buy"].output["duplicate"] is True
    assert second.nodes["buy"].output["order_id"] == first.nodes["buy"].output["order_id"]
    with session_scope(env[0]) as s:
        assert len(s.exec(select(PaperOrder)).all()) == 1


def test_limit_order_rests_below_market(env):
    """A buy limit 5% under the market rests open."""
    result, _ = run(env, [{"id": "lim", "type": "limit_order", "params": {
        "symbol": "EURUSD", "side": "buy", "quantity": 0.1, "offset_pct": -5}}], [])
    assert result.nodes["lim"].output["status"] == "open"


def test_zero_quantity_places_nothing(env):
    """A position size of zero (tiny risk) skips the order with a warning."""
    nodes = [{"id": "size", "type": "position_size", "params": {
        "symbol": "BTCUSDT", "risk_pct": 0.0001, "stop_pct": 50}},
        {"id": "buy", "type": "market_order", "params": {"symbol": "BTCUSDT", "side": "buy"}}]
    result, sink = run(env, nodes, [{"from": "size", "to": "buy"}])
    assert result.nodes["size"].output["quantity"] == 0
    assert result.nodes["buy"].output["placed"] is False
    assert any(e.level == "warning" and e.node_id == "buy" for e in sink.events)


def test_notification_delivery_failure_logged_not_fatal(env):
    """A bad apprise URL is logged as a warning; the in-app notification still exists."""
    nodes = [{"id": "n", "type": "notification", "params": {
        "title": "hello {trigger.price}", "apprise_urls": ["tgram://x"]}}]
    result, sink = run(env, nodes, [], payload={"price": 1.2345})
    assert result.status == "completed"
    out = result.nodes["n"].output
    assert out["title"] == "hello 1.2345"
    assert out["delivered"][0]["ok"] is False
    assert any(e.level == "warning" and "failed" in e.message for e in sink.events)
    with session_scope(env[0]) as s:
        row = s.exec(select(Notification)).one()
    assert row.delivered_to[0]["schema"] == "tgram" and "x" not in str(row.delivered_to)


def test_notification_delivery_failure_can_fail_node(env):
    """With fail_on_delivery_error the node fails (retryable)."""
    nodes = [{"id": "n", "type": "notification", "params": {
        "title": "t", "apprise_urls": ["tgram://x"], "fail_on_delivery_error": True}}]
    result, _ = run(env, nodes, [])
    assert result.status == "failed" and result.error_retryable is True


def test_price_trigger_reads_market_when_run_by_hand(env):
    """Without a payload the price trigger reads the feed at the execution time."""
    result, _ = run(env, [{"id": "t", "type": "price_trigger",
                           "params": {"symbol": "eurusd", "condition": "price > 1"}}], [])
    out = result.nodes["t"].output
    assert out["symbol"] == "EURUSD"
    assert out["price"] == pytest.approx(env[2].market.price("EURUSD", AT).price)


def test_trigger_passes_payload(env):
    """A trigger node passes its payload on (e.g. the webhook body)."""
    result, _ = run(env, [{"id": "w", "type": "webhook_trigger", "params": {}}], [],
                    payload={"body": {"side": "buy"}})
    assert result.nodes["w"].output["body"] == {"side": "buy"}


def test_every_node_type_describes_itself():
    """Each registered node type has a version, a params schema and outputs."""
    described = registry.describe()
    assert len(described) >= 20
    for d in described:
        assert d["version"] >= 1 and "properties" in d["params_schema"] and d["outputs"]
