"""Bad rows stay local: corrupt or failing schedules are marked, every other one keeps firing."""

from __future__ import annotations

import json
import threading
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from agentic_app.api.app import create_api
from agentic_app.db.engine import get_engine, session_scope
from agentic_app.db.models import JobQueueEntry
from agentic_app.engine.scheduler.service import SchedulerService
from agentic_app.market.simulated import SimulatedFeed
from agentic_app.services.app import AppServices

EVERY_SECOND = {"type": "schedule_trigger", "params": {"cron_expression": "* * * * * *"}}
PRICE = {"type": "price_trigger", "params": {"symbol": "EURUSD", "condition": "price > 0"}}
API = "/api/agentic"

CORRUPT = {  # name: (trigger_type, raw trigger_config text written straight into the table)
    "not json": ("cron", '{"cron_expression": "* * * * * *"'),
    "not an object": ("cron", "[1, 2, 3]"),
    "bad cron": ("cron", json.dumps({"cron_expression": "61 * * * *"})),
    "unknown indicator": ("indicator", json.dumps({
        "symbol": "EURUSD", "timeframe": "1m", "indicator": "vwap", "condition": "vwap > 1"})),
    "unknown type": ("hourly", "{}"),
    "bad condition": ("price", json.dumps({"symbol": "EURUSD", "condition": "price >> 1"})),
}


def _insert_corrupt(env, workflow_id: int) -> dict[str, int]:
    """Write the CORRUPT rows with plain SQL (as a bad migration or a manual edit would)."""
    ids = {}
    with get_engine(env.db).begin() as conn:
        for name, (trigger_type, config) in CORRUPT.items():
            ids[name] = conn.execute(sa.text(
                "INSERT INTO scheduled_jobs (workflow_id, user_id, name, trigger_type, "
                "trigger_config, is_active, consecutive_failures, run_count, created_at, "
                "updated_at) VALUES (:wf, :user, :name, :type, :config, 1, 0, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                {"wf": workflow_id, "user": env.user_id, "name": name, "type": trigger_type,
                 "config": config}).scalar_one()
    return ids


def _fires(env, job_id: int) -> int:
    with session_scope(env.db) as s:
        return len(s.exec(select(JobQueueEntry.id).where(
            JobQueueEntry.scheduled_job_id == job_id)).all())


def _problem(env, job_id: int) -> str | None:
    with get_engine(env.db).connect() as conn:
        return conn.execute(sa.text("SELECT config_error FROM scheduled_jobs WHERE id = :id"),
                            {"id": job_id}).scalar_one()


def _wait(done, seconds: float = 20) -> None:
    """Poll ``done`` until true or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        time.sleep(0.2)


def test_corrupt_and_failing_rows_are_marked_while_the_others_fire(env):
    """Next to six corrupt rows and one whose condition fails at every evaluation, a real
    scheduler (lease in Redis, SQLite) starts, stays up, fires the good cron and price jobs,
    and the API shows each bad row's problem; the good rows show none. A row repaired while
    the scheduler runs starts firing and loses its problem."""
    settings = env.settings.model_copy(deep=True)
    settings.scheduler_config.check_interval_seconds = 1
    app = AppServices(settings, redis_url=env.redis)
    good_cron = app.schedules.create(
        env.actor, workflow_id=env.workflow(EVERY_SECOND),
        trigger_type="cron", trigger_config={"overlap_policy": "allow"})
    good_price = app.schedules.create(
        env.actor, workflow_id=env.workflow(PRICE), trigger_type="price",
        trigger_config={"fire_if_true_at_start": True})
    failing = app.schedules.create(  # accepted: it parses; it divides by zero when run
        env.actor,
        workflow_id=env.workflow({"type": "price_trigger", "params": {
            "symbol": "EURUSD", "condition": "1 / (price - price) > 0"}}),
        trigger_type="price")
    corrupt = _insert_corrupt(env, good_cron.workflow_id)

    svc = SchedulerService(settings, redis_url=env.redis, market=SimulatedFeed(seed=1),
                           sync_interval_s=0.2)
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            svc.run(max_seconds=30)
        except BaseException as exc:  # the test fails on it below
            crashed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        _wait(lambda: _fires(env, good_cron.id) >= 3 and _fires(env, good_price.id) >= 1
              and _problem(env, corrupt["bad cron"]) is not None)
        assert thread.is_alive() and svc.leader and not crashed
        assert all(_fires(env, job_id) == 0 for job_id in [failing.id, *corrupt.values()])
        with get_engine(env.db).begin() as conn:  # an admin repairs one row by hand
            conn.execute(sa.text("UPDATE scheduled_jobs SET trigger_config = :c WHERE id = :id"),
                         {"c": json.dumps({"cron_expression": "* * * * * *",
                                           "overlap_policy": "allow"}),
                          "id": corrupt["bad cron"]})
        _wait(lambda: _fires(env, corrupt["bad cron"]) >= 1)
        assert _problem(env, corrupt["bad cron"]) is None  # it runs again: problem cleared
        assert thread.is_alive() and not crashed
    finally:
        svc.stop()
        thread.join(timeout=10)
    assert not crashed
    assert _fires(env, good_cron.id) >= 3
    assert _fires(env, good_price.id) >= 1
    del corrupt["bad cron"]

    _, token = app.tokens.create(env.actor, name="t")
    client = TestClient(create_api(app))
    resp = client.get(f"{API}/scheduler/jobs?limit=100",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    jobs = {job["id"]: job for job in resp.json()["items"]}
    assert jobs[good_cron.id]["config_error"] is None
    assert jobs[good_price.id]["config_error"] is None
    expected = {
        "not json": "trigger_config must be an object",
        "not an object": "trigger_config must be an object",
        "unknown indicator": "trigger_config.indicator",
        "unknown type": "unknown trigger type 'hourly'",
        "bad condition": "position 7",
    }
    for name, needle in expected.items():
        problem = jobs[corrupt[name]]["config_error"]
        assert problem and problem.startswith("invalid config: ") and needle in problem, (
            name, problem)
    assert jobs[failing.id]["config_error"].startswith("evaluation failed: ")
    assert "division by zero" in jobs[failing.id]["config_error"]
