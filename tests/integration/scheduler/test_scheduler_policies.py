"""Scheduler rules: misfires after downtime, overlap policies, following row changes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, ScheduledJob
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.engine.scheduler.firing import fire_key
from agentic_app.engine.scheduler.service import SchedulerService
from tests.integration.scheduler.conftest import T0

CRON = {"type": "schedule_trigger", "params": {"cron_expression": "*/5 * * * *"}}


def _jobs(env, job_id):
    with session_scope(env.db) as s:
        return s.exec(select(JobQueueEntry).where(JobQueueEntry.scheduled_job_id == job_id)
                      .order_by(JobQueueEntry.id)).all()


def _missed(env, job_id):
    with session_scope(env.db) as s:
        return s.exec(select(MissedRun).where(MissedRun.scheduled_job_id == job_id)
                      .order_by(MissedRun.fire_time)).all()


def _set_next_run(env, job_id, when):
    with session_scope(env.db) as s:
        s.get(ScheduledJob, job_id).next_run = when


def _service(env, clock) -> SchedulerService:
    svc = SchedulerService(env.settings, redis_url=env.redis, now=clock)
    svc.leader = True
    svc._activate()  # as if the lease was just won
    return svc


def _five_minute_marks(now):
    """The latest 5-minute boundary at or before ``now``."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)


def test_downtime_within_grace_runs_latest_once_and_records_rest(env):
    """After 30+ min down (grace 10 min), one catch-up for the latest fire; the rest missed."""
    wf = env.workflow(CRON)
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="cron",
                                   trigger_config={"misfire_grace_seconds": 600,
                                                    "overlap_policy": "allow"})
    now = datetime.now(timezone.utc)
    latest = _five_minute_marks(now)
    _set_next_run(env, job.id, latest - timedelta(minutes=30))  # down for 30+ minutes
    svc = _service(env, lambda: now)
    try:
        rows = _jobs(env, job.id)
        assert [r.dedupe_key for r in rows] == [fire_key(job.id, latest)]
        assert rows[0].execution_id is not None
        missed = _missed(env, job.id)
        assert [m.fire_time for m in missed] == [latest - timedelta(minutes=m)
                                                 for m in (30, 25, 20, 15, 10, 5)]
        assert {m.reason for m in missed} == {"downtime"}
        with session_scope(env.db) as s:
            row = s.get(ScheduledJob, job.id)
            assert row.run_count == 1 and row.last_run == latest
            assert row.next_run == latest + timedelta(minutes=5)
    finally:
        svc.stop()
        svc._deactivate()


def test_downtime_beyond_grace_runs_nothing(env):
    """When the latest missed fire is older than the grace time, nothing runs; all recorded."""
    wf = env.workflow(CRON)
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="cron",
                                   trigger_config={"misfire_grace_seconds": 1})
    now = datetime.now(timezone.utc)
    latest = _five_minute_marks(now)
    if (now - latest).total_seconds() < 2:
        time.sleep(2)
        now = datetime.now(timezone.utc)
    _set_next_run(env, job.id, latest - timedelta(minutes=10))
    svc = _service(env, lambda: now)
    try:
        assert _jobs(env, job.id) == []
        assert [m.fire_time for m in _missed(env, job.id)] == [
            latest - timedelta(minutes=10), latest - timedelta(minutes=5), latest]
    finally:
        svc.stop()
        svc._deactivate()


def test_catch_up_is_idempotent_across_restarts(env):
    """Two activations after the same downtime enqueue the catch-up once and record once."""
    wf = env.workflow(CRON)
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="cron",
                                   trigger_config={"misfire_grace_seconds": 600})
    now = datetime.now(timezone.utc)
    latest = _five_minute_marks(now)
    for _ in range(2):
        _set_next_run(env, job.id, latest - timedelta(minutes=10))
        svc = _service(env, lambda: now)
        svc.stop()
        svc._deactivate()
    assert len(_jobs(env, job.id)) == 1
    assert len(_missed(env, job.id)) == 2


def _fire_three(env, policy):
    wf = env.workflow(CRON, name=policy)
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="cron",
                                   trigger_config={"overlap_policy": policy})
    svc = SchedulerService(env.settings, redis_url=env.redis)
    results = [svc.fire(job.id, T0 + timedelta(minutes=5 * i), {}) for i in range(3)]
    return job, results


def test_overlap_skip(env):
    """skip: while the first execution is still pending, later fires are recorded as missed."""
    job, results = _fire_three(env, "skip")
    assert results == [1, 0, 0]
    assert [m.reason for m in _missed(env, job.id)] == ["overlap", "overlap"]


def test_overlap_queue_one(env):
    """queue_one: one more waits behind the open one... only if none is already waiting."""
    job, results = _fire_three(env, "queue_one")
    # nothing runs (no worker), so the first is pending too: queue_one enqueues no second
    assert results == [1, 0, 0]
    with session_scope(env.db) as s:
        first = s.exec(select(JobQueueEntry).where(
            JobQueueEntry.scheduled_job_id == job.id)).one()
        first.status = "running"
    svc = SchedulerService(env.settings, redis_url=env.redis)
    assert svc.fire(job.id, T0 + timedelta(minutes=20), {}) == 1  # running one + one waiting
    assert svc.fire(job.id, T0 + timedelta(minutes=25), {}) == 0  # already one waiting


def test_overlap_allow(env):
    """allow: every fire is enqueued."""
    job, results = _fire_three(env, "allow")
    assert results == [1, 1, 1]
    assert len(_jobs(env, job.id)) == 3


def test_same_fire_time_never_enqueued_twice(env):
    """The deterministic key makes a second fire of the same (job, time) a no-op."""
    wf = env.workflow(CRON)
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="cron",
                                   trigger_config={"overlap_policy": "allow"})
    a = SchedulerService(env.settings, redis_url=env.redis)
    b = SchedulerService(env.settings, redis_url=env.redis)
    assert a.fire(job.id, T0, {}) == 1
    assert b.fire(job.id, T0, {}) == 0
    assert len(_jobs(env, job.id)) == 1


def test_follows_pause_resume_update_delete_within_a_second(env):
    """Changes to rows reach a running scheduler within its sync interval, without restart."""
    every_second = {"type": "schedule_trigger", "params": {"cron_expression": "* * * * * *"}}
    wf = env.workflow(every_second)
    svc = SchedulerService(env.settings, redis_url=env.redis, sync_interval_s=0.2)
    svc.leader = True
    svc._activate()
    try:
        job = env.app.schedules.create(env.actor, workflow_id=wf,
                                       trigger_type="cron",
                                       trigger_config={"overlap_policy": "allow"})
        time.sleep(2.5)
        assert len(_jobs(env, job.id)) >= 1  # created while running: picked up
        env.app.schedules.toggle(env.actor, job.id)
        time.sleep(1.0)
        paused_count = len(_jobs(env, job.id))
        time.sleep(2.0)
        assert len(_jobs(env, job.id)) == paused_count  # paused: no more fires
        env.app.schedules.toggle(env.actor, job.id)
        time.sleep(2.5)
        assert len(_jobs(env, job.id)) > paused_count  # resumed
        env.app.schedules.delete(env.actor, job.id)
        time.sleep(1.0)
        assert str(job.id) not in {j.id for j in svc._aps.get_jobs()}
    finally:
        svc.stop()
        svc._deactivate()
