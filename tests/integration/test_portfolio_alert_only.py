"""The demo's paper trades in the portfolio, and alert-only runs placing nothing, through a
real RQ worker process on SQLite and Redis (paper fees and slippage from PAPER__ settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from sqlmodel import func, select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, NodeExecution, Workflow, WorkflowExecution
from agentic_app.db.trading_models import (
    AlertOrder,
    Notification,
    PaperAccount,
    PaperFill,
    PaperOrder,
    PaperPosition,
)
from agentic_app.services.app import AppServices
from agentic_app.settings import REPO_ROOT, load_settings
from tests.integration.alerts.conftest import Receiver


@pytest.fixture
def receiver():
    """A local HTTP receiver for the user's alert channel."""
    r = Receiver()
    yield r
    r.close()

FEE_BPS, FEE_PER_FILL, SLIPPAGE_BPS = 2.0, 0.5, 5.0
PAPER = {"fee_bps": FEE_BPS, "fee_per_fill": FEE_PER_FILL, "slippage_bps": SLIPPAGE_BPS}
OUTBOUND = {"allow_loopback": True}  # the alert channel's receiver listens on loopback
LOT = 100_000  # EURUSD contract size
SELL = {"nodes": [
    {"id": "trigger", "type": "schedule_trigger", "params": {"cron_expression": "0 9 * * *"}},
    {"id": "sell", "type": "market_order",
     "params": {"symbol": "EURUSD", "side": "sell", "quantity": 0.1}}],
    "edges": [{"from": "trigger", "to": "sell"}]}


@pytest.fixture
def app(sqlite_db_url, redis_url, tmp_path):
    """Local-mode facade (demo data allowed) on the simulated market at real speed."""
    settings = load_settings(AGENTIC_MODE="local", DATABASE_URL=sqlite_db_url,
                             REDIS_URL=redis_url, DATA_DIR=str(tmp_path), MARKET_FEED="simulated",
                             MARKET_SPEED=1, PAPER=PAPER, OUTBOUND=OUTBOUND)
    services = AppServices(settings, redis_url=redis_url)
    yield services
    services.close()


@pytest.fixture
def worker(app, sqlite_db_url, redis_url, tmp_path):
    """One real worker process with the same paper and outbound settings, and the same data
    dir (its SECRET_KEY: the worker decrypts the channel URL the app stored)."""
    env = dict(os.environ, DATABASE_URL=sqlite_db_url, REDIS_URL=redis_url,
               DATA_DIR=str(tmp_path),
               MARKET_FEED="simulated", MARKET_SPEED="1", PAPER=json.dumps(PAPER),
               OUTBOUND=json.dumps(OUTBOUND))
    proc = subprocess.Popen([sys.executable, "-m", "agentic_app", "worker"], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def _wait(app, job, timeout: float = 60) -> WorkflowExecution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(app.db.url) as s:
            row = s.get(JobQueueEntry, job.id)
            if row.status in ("completed", "failed", "cancelled"):
                assert row.status == "completed", row.error_message
                return s.get(WorkflowExecution, row.execution_id)
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} did not finish in {timeout}s")


def _demo(app):
    actor, _ = app.demo.seed()
    with session_scope(app.db.url) as s:
        wf = s.exec(select(Workflow).where(Workflow.user_id == actor.id,
                                           Workflow.name == "EURUSD Price Alert")).one()
        return actor, wf.id


def _count(app, model, **where) -> int:
    with session_scope(app.db.url) as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.exec(stmt).one()


@pytest.mark.slow
def test_demo_paper_trades_in_the_portfolio(app, worker):
    """Two runs of the demo's EURUSD Price Alert (buy 0.1 lot each) and one sell of 0.1: the
    portfolio shows the position, cash, fees, realized and unrealized P&L computed by hand
    from the fills, agrees with the broker's own book, and links orders and executions."""
    actor, wf_id = _demo(app)
    buys = [_wait(app, app.workflows.run_now(actor, wf_id)) for _ in range(2)]
    sell_wf = app.workflows.create(actor, name="sell", definition=SELL)
    sell = _wait(app, app.workflows.run_now(actor, sell_wf.id))

    orders, total = app.portfolio.orders(actor)
    assert total == 3
    by_exec = {o["execution_id"]: o for o in orders}
    assert set(by_exec) == {buys[0].id, buys[1].id, sell.id}
    p1, p2, p3 = (by_exec[e.id]["avg_fill_price"] for e in (*buys, sell))
    for o in orders:
        assert o["status"] == "filled" and len(o["fills"]) == 1
        assert o["workflow_id"] in (wf_id, sell_wf.id)
        price = o["avg_fill_price"]
        assert o["fee"] == pytest.approx(0.1 * LOT * price * FEE_BPS / 1e4 + FEE_PER_FILL)
    # by hand: avg cost of the two buys, the sell realises against it
    avg = (p1 + p2) / 2
    fees = sum(0.1 * LOT * p * FEE_BPS / 1e4 + FEE_PER_FILL for p in (p1, p2, p3))
    realized = 0.1 * LOT * (p3 - avg)
    cash = 100_000 - 0.1 * LOT * (p1 + p2) + 0.1 * LOT * p3 - fees

    summary = app.portfolio.summary(actor)
    assert summary["cash"] == pytest.approx(cash)
    assert summary["fees"] == pytest.approx(fees)
    assert summary["realized_pnl"] == pytest.approx(realized)
    assert summary["net_realized_pnl"] == pytest.approx(realized - fees)
    [pos] = summary["positions"]
    assert pos["symbol"] == "EURUSD" and pos["quantity"] == pytest.approx(0.1)
    assert pos["avg_price"] == pytest.approx(avg)
    mark = pos["mark_price"]
    assert mark is not None and summary["unpriced"] == []
    assert summary["unrealized_pnl"] == pytest.approx(0.1 * LOT * (mark - avg))
    assert summary["equity"] == pytest.approx(cash + 0.1 * LOT * mark)
    assert summary["total_pnl"] == pytest.approx(
        realized - fees + 0.1 * LOT * (mark - avg))
    # each fill is the quote moved by the slippage: a buy pays more than the sell receives
    # for prices this close together, and the fill rows match the orders
    with session_scope(app.db.url) as s:
        acct = s.exec(select(PaperAccount).where(PaperAccount.user_id == actor.id)).one()
        row = s.exec(select(PaperPosition).where(PaperPosition.user_id == actor.id)).one()
        fills = s.exec(select(PaperFill).where(PaperFill.user_id == actor.id)).all()
    assert acct.cash == pytest.approx(cash)  # the broker's book agrees with the replay
    assert row.quantity == pytest.approx(0.1) and row.avg_price == pytest.approx(avg)
    assert row.realized_pnl == pytest.approx(realized - fees)
    assert sorted(f.price for f in fills) == sorted([p1, p2, p3])

    linked = app.portfolio.execution_orders(actor, buys[0].id)
    assert [o["id"] for o in linked["orders"]] == [by_exec[buys[0].id]["id"]]
    assert linked["alert_orders"] == [] and linked["alert_only"] is False
    curve = app.portfolio.equity(actor, points=20)["points"]
    assert len(curve) == 20 and curve[0]["equity"] == pytest.approx(
        100_000 - (0.1 * LOT * p1 * FEE_BPS / 1e4 + FEE_PER_FILL), rel=1e-3)
    assert curve[-1]["fees"] == pytest.approx(fees)
    assert curve[-1]["equity"] == pytest.approx(app.portfolio.summary(actor)["equity"],
                                                abs=0.1 * LOT * 0.01)


@pytest.mark.slow
def test_alert_only_runs_place_nothing(app, worker, receiver):
    """A schedule in alert-only mode, and then a workflow in alert-only mode: their runs
    record the would-be order, send it as an alert (inbox + the user's channel, a real local
    receiver), mark the execution, and place nothing at the paper broker (no order, no fill,
    cash untouched)."""
    actor, wf_id = _demo(app)
    app.alerts.channels.create(actor, name="hook", url=receiver.url(),
                               kinds=["order_alert_only"])
    jobs, _ = app.schedules.list(actor)
    demo_job = next(j for j in jobs if j.workflow_id == wf_id)
    assert app.alert_mode.set_schedule(actor, demo_job.id, True).alert_only is True

    execution = _wait(app, app.schedules.run_now(actor, demo_job.id))
    assert execution.alert_only is True
    assert _count(app, PaperOrder, user_id=actor.id) == 0
    assert _count(app, PaperFill, user_id=actor.id) == 0
    with session_scope(app.db.url) as s:
        [alert] = s.exec(select(AlertOrder).where(AlertOrder.execution_id == execution.id)).all()
        node = s.exec(select(NodeExecution).where(NodeExecution.execution_id == execution.id,
                                                  NodeExecution.node_id == "buy")).one()
        notes = s.exec(select(Notification).where(
            Notification.user_id == actor.id, Notification.kind == "order_alert_only")).all()
    assert (alert.symbol, alert.side, alert.quantity) == ("EURUSD", "buy", 0.1)
    assert alert.quote_price and alert.quote_price > 0
    assert node.output["placed"] is False and node.output["alert_only"] is True
    assert node.output["would_place"]["symbol"] == "EURUSD"
    assert [n.title for n in notes] == ["Alert-only: buy 0.1 EURUSD market"]
    assert notes[0].execution_id == execution.id
    assert notes[0].scheduled_job_id == demo_job.id
    assert notes[0].refs == {"alert_order_id": alert.id, "execution_id": execution.id}
    assert receiver.arrived.wait(30), "the channel got no message"
    deadline = time.monotonic() + 30
    while not receiver.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Alert-only: buy 0.1 EURUSD market" in json.dumps(receiver.messages[0])
    history = app.schedules.history(actor, demo_job.id)
    assert history["runs"][0]["alert_only"] is True
    assert app.monitoring.get(actor, execution.id)["alert_only"] is True
    linked = app.portfolio.execution_orders(actor, execution.id)
    assert linked["orders"] == [] and [a["id"] for a in linked["alert_orders"]] == [alert.id]

    # the workflow flag alone makes a run by hand alert-only too
    app.alert_mode.set_schedule(actor, demo_job.id, False)
    app.alert_mode.set_workflow(actor, wf_id, True)
    by_hand = _wait(app, app.workflows.run_now(actor, wf_id))
    assert by_hand.alert_only is True
    assert _count(app, PaperOrder, user_id=actor.id) == 0
    assert _count(app, AlertOrder, user_id=actor.id) == 2
    assert app.portfolio.summary(actor)["cash"] == pytest.approx(100_000)

    # switched off: the next run trades
    app.alert_mode.set_workflow(actor, wf_id, False)
    live = _wait(app, app.workflows.run_now(actor, wf_id))
    assert live.alert_only is False
    assert _count(app, PaperOrder, execution_id=live.id) == 1
