"""Schedules as written, with the real scheduler and a real worker process: the plan's body
fires and its run completes; one workflow runs from a cron and a price schedule (the trigger
node takes either's data); PUT cron -> interval -> price moves the scheduler and the watcher
along; skip next N and a pause's resume time, as the scheduler applies them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import (
    JobQueueEntry,
    NodeExecution,
    ScheduledJob,
    WorkflowExecution,
)
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.engine.scheduler.service import SchedulerService
from tests.integration.scheduler.conftest import ManualClock, PathFeed, next_minute

pytestmark = pytest.mark.slow

PLAN_CONFIG = {"cron_expression": "0 9 * * *"}
"""The plan's example trigger_config, as written."""
PRICE_NODE = {"type": "price_trigger", "params": {"symbol": "EURUSD", "condition": "price > 5"}}


def _done(env, job_id: int, count: int = 1, timeout: float = 90) -> list[JobQueueEntry]:
    """The job's queue rows once ``count`` of them finished (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(env.db) as s:
            rows = s.exec(select(JobQueueEntry).where(
                JobQueueEntry.scheduled_job_id == job_id).order_by(JobQueueEntry.id)).all()
        if len(rows) >= count and all(r.status in ("completed", "failed") for r in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"scheduled job {job_id} did not finish {count} run(s)")


def _last_nine(now: datetime) -> datetime:
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    return nine if nine <= now else nine - timedelta(days=1)


def _active(env, clock, market=None) -> SchedulerService:
    svc = SchedulerService(env.settings, redis_url=env.redis, now=clock, market=market)
    svc.leader = True
    svc._activate()
    return svc


def _stop(svc: SchedulerService) -> None:
    svc.stop()
    svc._deactivate()


def _trigger_output(env, execution_id: int) -> dict:
    with session_scope(env.db) as s:
        node = s.exec(select(NodeExecution).where(NodeExecution.execution_id == execution_id,
                                                  NodeExecution.node_id == "t")).one()
        return dict(node.output or {})


def test_plans_body_fires_and_runs(env, worker):
    """The plan's cron body on a workflow of another trigger type: when its 09:00 comes (the
    scheduler's clock at 09:00:05, the fire due), the scheduler enqueues it and the worker
    completes the run; the next run is the following 09:00."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(PRICE_NODE),
                                   trigger_type="cron", trigger_config=PLAN_CONFIG)
    nine = _last_nine(datetime.now(UTC))
    with session_scope(env.db) as s:
        s.get(ScheduledJob, job.id).next_run = nine  # the fire is due
    svc = _active(env, ManualClock(nine + timedelta(seconds=5)))
    try:
        [row] = _done(env, job.id)
    finally:
        _stop(svc)
    assert row.status == "completed", row.error_message
    with session_scope(env.db) as s:
        ex = s.get(WorkflowExecution, row.execution_id)
        assert ex.trigger_type == "cron"
        assert ex.trigger_payload["fired_at"] == nine.isoformat()
        sj = s.get(ScheduledJob, job.id)
        assert sj.run_count == 1 and sj.next_run == nine + timedelta(days=1)
    assert "price" in _trigger_output(env, row.execution_id)  # the node read the market


def test_plan_shaped_body_fires_in_real_time(env, worker):
    """The same body shape with an every-2-seconds cron: the real APScheduler fires it and the
    worker completes the run."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(PRICE_NODE),
                                   trigger_type="cron",
                                   trigger_config={"cron_expression": "*/2 * * * * *"})
    svc = _active(env, lambda: datetime.now(UTC))
    try:
        rows = _done(env, job.id)
    finally:
        _stop(svc)
    assert rows[0].status == "completed"


def test_one_workflow_runs_from_a_cron_and_a_price_schedule(env, worker):
    """One workflow (its trigger node a price node), two schedules: the cron fire and the
    price crossing both run it to completion; the price run's trigger node passes on the
    price the watcher saw, the cron run's node reads the market itself."""
    wf = env.workflow(PRICE_NODE)
    cron = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="cron",
                                    trigger_config=PLAN_CONFIG)
    price = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="price",
                                     trigger_config={"symbol": "EURUSD",
                                                     "condition": "crosses_above(price, 1.1)"})
    assert price.trigger_config["condition"] != PRICE_NODE["params"]["condition"]
    nine = _last_nine(datetime.now(UTC))
    with session_scope(env.db) as s:
        s.get(ScheduledJob, cron.id).next_run = nine
    start = next_minute(price.created_at)
    feed = PathFeed(start, 60.0, {"EURUSD": [1.098, 1.099, 1.1012]})
    clock = ManualClock(nine + timedelta(seconds=5))
    svc = SchedulerService(env.settings, redis_url=env.redis, market=feed, now=clock,
                           check_lease=False)
    svc.leader = True
    svc._activate()
    try:
        fired = 0
        for i in range(3):
            clock.when = start + timedelta(seconds=60 * i)
            fired += svc.tick_market()
        assert fired == 1
        [cron_row] = _done(env, cron.id)
        [price_row] = _done(env, price.id)
    finally:
        _stop(svc)
    assert (cron_row.status, price_row.status) == ("completed", "completed")
    with session_scope(env.db) as s:
        kinds = {s.get(WorkflowExecution, r.execution_id).trigger_type
                 for r in (cron_row, price_row)}
    assert kinds == {"cron", "price"}
    assert _trigger_output(env, price_row.execution_id)["price"] == pytest.approx(1.1012)
    assert "price" in _trigger_output(env, cron_row.execution_id)


def test_put_cron_interval_price_moves_scheduler_and_watcher(env):
    """After each PUT the active scheduler follows at its next sync: the APScheduler job's
    time is the preview's first run (cron, then interval); as a price job it is watched and
    no longer timed; back to cron it is timed again and not watched."""
    wf = env.workflow(PRICE_NODE)
    job = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="cron",
                                   trigger_config=PLAN_CONFIG)
    feed = PathFeed(datetime.now(UTC), 5.0, {"EURUSD": [1.0]})
    svc = _active(env, lambda: datetime.now(UTC), market=feed)

    def timed():
        aps = svc._aps.get_job(str(job.id))
        return aps.next_run_time if aps else None

    def first_run():
        view = env.app.schedules.view(env.app.schedules.get(env.actor, job.id))
        return datetime.fromisoformat(view["next_runs"][0]) if view["next_runs"] else None

    try:
        assert timed() == first_run() and timed().hour == 9
        env.app.schedules.update(env.actor, job.id, trigger_type="time",
                                 trigger_config={"interval_minutes": 7})
        svc.sync()
        assert timed() == first_run()
        assert timed() - job.created_at == timedelta(minutes=7)
        env.app.schedules.update(env.actor, job.id, trigger_type="price", trigger_config={
            "symbol": "EURUSD", "condition": "price > 1.5"})
        svc.sync()
        assert timed() is None and first_run() is None and svc._watcher.watches(job.id)
        env.app.schedules.update(env.actor, job.id, trigger_type="cron",
                                 trigger_config={"cron_expression": "30 18 * * *"})
        svc.sync()
        assert timed() == first_run() and timed().hour == 18
        assert not svc._watcher.watches(job.id)
    finally:
        _stop(svc)


def test_skip_next_two_fires(env):
    """Skip 2: the next two fires are recorded as skipped (reason skip, counted), the third
    is enqueued, and skip_next is back to 0."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(PRICE_NODE),
                                   trigger_type="cron",
                                   trigger_config={"cron_expression": "* * * * *",
                                                   "overlap_policy": "allow"})
    env.app.schedules.skip(env.actor, job.id, 2)
    svc = SchedulerService(env.settings, redis_url=env.redis)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    assert [svc.fire(job.id, t0 + timedelta(minutes=i), {}) for i in range(3)] == [0, 0, 1]
    with session_scope(env.db) as s:
        missed = s.exec(select(MissedRun).where(MissedRun.scheduled_job_id == job.id)
                        .order_by(MissedRun.fire_time)).all()
        row = s.get(ScheduledJob, job.id)
        assert [(m.fire_time, m.reason) for m in missed] == [(t0, "skip"),
                                                            (t0 + timedelta(minutes=1), "skip")]
        assert (row.skip_next, row.skipped_count, row.run_count) == (0, 2, 1)


def test_resume_time_resumes_and_lists_the_paused_fires(env):
    """Paused with a resume time: the scheduler's sync after that time resumes the job from
    its clock, and the fire times of the pause are listed as skipped (reason paused)."""
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(PRICE_NODE),
                                   trigger_type="cron",
                                   trigger_config={"cron_expression": "* * * * *"})
    resume_at = datetime.now(UTC) + timedelta(minutes=3)
    paused = env.app.schedules.pause(env.actor, job.id, note="maintenance",
                                     resume_at=resume_at)
    clock = ManualClock(resume_at - timedelta(seconds=30))
    svc = SchedulerService(env.settings, redis_url=env.redis, now=clock, check_lease=False)
    svc.sync()
    assert env.app.schedules.get(env.actor, job.id).is_active is False  # not yet
    clock.when = resume_at + timedelta(seconds=1)
    svc.sync()
    row = env.app.schedules.get(env.actor, job.id)
    assert row.is_active and row.pause_note is None and row.resume_at is None
    assert row.next_run == (clock.when.replace(second=0, microsecond=0)
                            + timedelta(minutes=1))
    history = env.app.schedules.history(env.actor, job.id)
    paused_fires = [e["at"] for e in history["timeline"] if e["reason"] == "paused"]
    first = paused.paused_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    expected = []
    while first <= clock.when:
        expected.append(first)
        first += timedelta(minutes=1)
    assert sorted(paused_fires) == expected and len(expected) >= 3
    assert row.skipped_count == len(expected)
    assert env.app.schedules.view(row)["health"]["status"] == "healthy"


def test_a_failed_run_is_inline_counted_and_the_badge_says_failing(env, worker):
    """A scheduled run that fails (unknown symbol at run time, no retries): the history lists
    it as failed with its error, the job counts one failure and its badge reads failing."""
    from agentic_app.settings import QueueConfig

    wf = env.workflow({"type": "price", "params": {"symbol": "NOPEUSD"}})
    job = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="cron",
                                   trigger_config=PLAN_CONFIG)
    settings = env.settings.model_copy(update={
        "queue_config": QueueConfig(max_retries=0, retry_delay_seconds=[])})
    svc = SchedulerService(settings, redis_url=env.redis)
    assert svc.fire(job.id, _last_nine(datetime.now(UTC)), {}) == 1
    [row] = _done(env, job.id)
    assert row.status == "failed"
    view = env.app.schedules.view(env.app.schedules.get(env.actor, job.id))
    assert view["counts"]["failed"] == 1 and view["health"]["status"] == "failing"
    [entry] = env.app.schedules.history(env.actor, job.id)["timeline"]
    assert entry["kind"] == "failed" and entry["execution_id"] == row.execution_id
    assert entry["detail"]
