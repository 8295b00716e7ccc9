"""Live orders from real RQ worker processes (`python -m agentic_app worker`) on the fake
Binance: a run places one live order; a run whose response is lost and whose exchange then
cannot be asked fails its attempt, and the queue's retry finds the order by its client id -
one order at the exchange, never two. The kill switch refuses runs until re-armed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from agentic_app.db.broker_models import LiveOrder
from agentic_app.domain.errors import ConflictError
from agentic_app.services.app import AppServices
from agentic_app.settings import REPO_ROOT, load_settings
from tests.fakes.broker_env import KEY, SECRET
from tests.fakes.fake_binance import FakeBinance

FLOW = {"nodes": [{"id": "buy", "type": "market_order", "params": {
    "symbol": "BTCUSDT", "side": "buy", "quantity": 0.01, "broker": "binance"}}], "edges": []}


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    """The fake exchange; the account holds 10 000 USDT."""
    exchange = FakeBinance({KEY: SECRET}).start()
    exchange.fund(KEY, "USDT", 10_000.0)
    yield exchange
    exchange.stop()


@pytest.fixture
def stack(sqlite_db_url: str, redis_url: str, fake: FakeBinance, tmp_path):
    """A facade and one CLI worker process sharing the database, Redis and settings."""
    env = {"DATABASE_URL": sqlite_db_url, "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path),
           "MARKET_FEED": "simulated", "MARKET_SPEED": "1",
           "BROKER__TEST_BASE_URL": fake.base_url,
           "BROKER__CREDENTIAL_KEYS": json.dumps([Fernet.generate_key().decode()]),
           "QUEUE_CONFIG": json.dumps({"max_retries": 8, "retry_delay_seconds": [2]})}
    settings = load_settings(database_url=sqlite_db_url, redis_url=redis_url,
                             data_dir=tmp_path, market_feed="simulated", market_speed=1.0,
                             broker={"test_base_url": fake.base_url,
                                     "credential_keys": json.loads(
                                         env["BROKER__CREDENTIAL_KEYS"])},
                             queue_config=json.loads(env["QUEUE_CONFIG"]))
    app = AppServices(settings, redis_url=redis_url)
    proc = subprocess.Popen([sys.executable, "-m", "agentic_app", "worker"], cwd=REPO_ROOT,
                            env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield app
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _setup(app: AppServices):
    actor = app.users.create(username="trader", password="worker test password 1")
    app.broker.add_credential(actor, exchange="binance", api_key=KEY, secret=SECRET)
    wf = app.workflows.create(actor, name="live buy", definition=FLOW)
    return actor, wf.id


def _wait_done(app: AppServices, actor, execution_id: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = app.monitoring.get(actor, execution_id)
        if view["status"] in ("completed", "failed", "cancelled"):
            return view
        time.sleep(0.3)
    raise AssertionError(f"execution {execution_id} still {view['status']}")


def test_worker_places_one_live_order_and_retry_after_lost_response_reuses_it(stack, fake):
    app = stack
    actor, wf = _setup(app)
    first = app.workflows.run_now(actor, wf)
    assert _wait_done(app, actor, first.execution_id)["status"] == "completed"
    assert len(fake.order_posts()) == 1 and len(fake.orders) == 1

    fake.lose_next_response = True  # executed, never answered ...
    fake.fail_lookups = 1  # ... and the exchange cannot be asked right after
    second = app.workflows.run_now(actor, wf)
    view = _wait_done(app, actor, second.execution_id, timeout=120)
    assert view["status"] == "completed", view
    job = app.queue.get(actor, second.id)
    assert job.attempt > 1 or job.retry_count > 0  # the first attempt failed, a retry finished
    assert len(fake.order_posts()) == 2 and len(fake.orders) == 2  # one order per run
    with Session(app.db.engine) as s:
        rows = s.exec(select(LiveOrder).order_by(LiveOrder.id)).all()
    assert [r.status for r in rows] == ["filled", "filled"]
    assert [r.execution_id for r in rows] == [first.execution_id, second.execution_id]


def test_kill_switch_refuses_runs_until_rearmed(stack, fake):
    app = stack
    actor, wf = _setup(app)
    app.kill_switch.engage(actor, "worker test")
    with pytest.raises(ConflictError):
        app.workflows.run_now(actor, wf)
    app.kill_switch.rearm(actor)
    job = app.workflows.run_now(actor, wf)
    assert _wait_done(app, actor, job.execution_id)["status"] == "completed"
    assert len(fake.order_posts()) == 1
