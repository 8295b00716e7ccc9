"""The three seed templates run end to end on the simulated feed at fixed times."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest
import talib
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.trading_models import Notification, PaperOrder
from agentic_app.market.simulated import SimulatedFeed
from agentic_app.services.app import AppServices
from agentic_app.settings import REPO_ROOT, load_settings

OVERSOLD_AT = "2025-01-11T09:00:00Z"
"""EURUSD 1h RSI(14) over 100 bars is about 19 here (below 30: an order is placed)."""
NOT_OVERSOLD_AT = "2025-01-15T09:00:00Z"
"""EURUSD 1h RSI(14) is above 30 here (no order)."""


def run_workflow(settings, name: str, **options):
    """Run a workflow once in-process through the facade (what `python -m agentic_app run`
    does)."""
    return AppServices(settings).runs.run_once(name, **options)


def _rsi_at(at: str) -> float:
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    bars = SimulatedFeed(seed=42).bars("EURUSD", "1h", 100, when)
    return float(talib.RSI(np.asarray(bars.close, dtype=float), timeperiod=14)[-1])


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path, market_seed=42)


def test_rsi_oversold_places_order(settings, sqlite_db_url):
    """RSI below 30 at 09:00: the condition takes 'true', size > 0, one filled market order."""
    assert _rsi_at(OVERSOLD_AT) < 30
    result = run_workflow(settings, "RSI Oversold Strategy", at=OVERSOLD_AT,
                          database_url=sqlite_db_url)
    assert result.status == "completed"
    nodes = result.nodes
    assert nodes["rsi"].output["value"] == pytest.approx(_rsi_at(OVERSOLD_AT), rel=1e-9)
    assert nodes["oversold"].output["branch"] == "true"
    assert nodes["size"].output["quantity"] > 0
    assert nodes["size"].output["quantity"] <= 5  # max_position
    assert nodes["buy"].status == "succeeded" and nodes["buy"].output["placed"] is True
    with session_scope(sqlite_db_url) as s:
        orders = s.exec(select(PaperOrder)).all()
    assert len(orders) == 1 and orders[0].status == "filled" and orders[0].side == "buy"
    assert orders[0].idempotency_key == f"{orders[0].execution_id}:buy"


def test_rsi_not_oversold_places_nothing(settings, sqlite_db_url):
    """RSI above 30: the true branch (size, buy) is skipped and no order exists."""
    assert _rsi_at(NOT_OVERSOLD_AT) >= 30
    result = run_workflow(settings, "RSI Oversold Strategy", at=NOT_OVERSOLD_AT,
                          database_url=sqlite_db_url)
    assert result.status == "completed"
    assert result.nodes["oversold"].output["branch"] == "false"
    assert result.nodes["size"].status == "skipped" and result.nodes["buy"].status == "skipped"
    with session_scope(sqlite_db_url) as s:
        assert s.exec(select(PaperOrder)).all() == []


def test_price_alert_notifies_and_orders_in_parallel(settings, sqlite_db_url):
    """The price alert notifies (with the price in the text) and buys 0.1 lot, both branches."""
    result = run_workflow(settings, "EURUSD Price Alert", at=NOT_OVERSOLD_AT,
                          database_url=sqlite_db_url)
    assert result.status == "completed"
    price = result.nodes["trigger"].output["price"]
    assert result.nodes["notify"].output["body"] == f"EURUSD traded at {price:g}"
    assert result.nodes["buy"].output["quantity"] == 0.1
    with session_scope(sqlite_db_url) as s:
        assert len(s.exec(select(Notification)).all()) == 1
        assert len(s.exec(select(PaperOrder)).all()) == 1


def test_indicator_autotrade_sizes_from_equity(settings, sqlite_db_url):
    """RSI Signal Auto-trade sizes 0.5% risk with a 2% stop and never above 2 BTC."""
    result = run_workflow(settings, "RSI Signal Auto-trade", at=NOT_OVERSOLD_AT,
                          database_url=sqlite_db_url)
    assert result.status == "completed"
    size = result.nodes["size"].output
    assert size["risk_amount"] == pytest.approx(500.0)
    assert size["stop_distance"] == pytest.approx(size["entry_price"] * 0.02, rel=1e-6)
    assert 0 < size["quantity"] <= 2
    assert result.nodes["buy"].output["quantity"] == size["quantity"]


def test_cli_run_json_last_line():
    """`python -m agentic_app run ... --json --at` prints events, then the execution as JSON."""
    proc = subprocess.run([sys.executable, "-m", "agentic_app", "run", "RSI Oversold Strategy",
                           "--json", "--at", OVERSOLD_AT], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("ExecutionStarted" in line for line in lines[:-1])
    data = json.loads(lines[-1])
    assert data["status"] == "completed"
    assert [n["id"] for n in data["nodes"]] == ["trigger", "bars", "rsi", "oversold", "size", "buy"]
    for node in data["nodes"]:
        assert {"id", "type", "status", "started_at", "finished_at", "duration_ms",
                "output"} <= set(node)
        assert node["duration_ms"] >= 0
    assert data["metrics"]["total_nodes"] == 6 and data["metrics"]["failed_nodes"] == 0


def test_cli_run_unknown_template():
    """An unknown template name is a clear error with exit code 2."""
    proc = subprocess.run([sys.executable, "-m", "agentic_app", "run", "No Such Strategy"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no template or file" in proc.stderr


def test_run_time_is_deterministic(settings):
    """Two runs at the same --at time give the same node outputs (offline, reproducible)."""
    first = run_workflow(settings, "RSI Oversold Strategy", at=OVERSOLD_AT)
    second = run_workflow(settings, "RSI Oversold Strategy", at=OVERSOLD_AT)
    assert first.nodes["rsi"].output == second.nodes["rsi"].output
    assert first.nodes["size"].output == second.nodes["size"].output
    assert datetime.fromisoformat(first.nodes["trigger"].output["fired_at"]) == datetime(
        2025, 1, 11, 9, tzinfo=UTC)
