"""Price triggers through the scheduler: edge-triggered fires enqueued, state across restarts."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, ScheduledJob, WorkflowExecution
from agentic_app.db.trading_models import Notification
from agentic_app.engine.scheduler.service import SchedulerService
from tests.integration.scheduler.conftest import PathFeed, next_minute

STEP = 60.0
PATH = [1.095, 1.098, 1.101, 1.102, 1.099, 1.1005, 1.103, 1.097, 1.096, 1.104]
#        -      -      fire   -      rearm  fire    -      rearm  -      fire


def _service(env, feed, clock) -> SchedulerService:
    svc = SchedulerService(env.settings, redis_url=env.redis, market=feed, now=clock,
                           check_lease=False)
    svc._aps = None
    svc.leader = True
    svc.sync()
    return svc


def _price_job(env, trigger_config: dict | None = None):
    """A 'price > 1.10' job on EURUSD: (workflow id, scheduled job)."""
    wf = env.workflow({"type": "price_trigger",
                       "params": {"symbol": "EURUSD", "condition": "price > 1.10"}})
    job = env.app.schedules.create(env.actor, workflow_id=wf,
                                   trigger_type="price", trigger_config=trigger_config)
    return wf, job


def _payloads(env, job_id):
    with session_scope(env.db) as s:
        rows = s.exec(select(WorkflowExecution).join(
            JobQueueEntry, JobQueueEntry.execution_id == WorkflowExecution.id).where(
            JobQueueEntry.scheduled_job_id == job_id).order_by(WorkflowExecution.id)).all()
        return [r.trigger_payload for r in rows]


def test_price_trigger_fires_on_each_upward_crossing_across_restarts(env):
    """'price > 1.10' fires at ticks 2, 5 and 9 only, even with a restart between every tick."""
    _, job = _price_job(env, {"overlap_policy": "allow"})
    with session_scope(env.db) as s:
        start = next_minute(s.get(ScheduledJob, job.id).created_at)
    feed = PathFeed(start, STEP, {"EURUSD": PATH})
    fired_at = []
    for i in range(len(PATH)):
        now = start + timedelta(seconds=STEP * i)
        svc = _service(env, feed, lambda now=now: now)  # a new process every tick
        if svc.tick_market():
            fired_at.append(i)
    assert fired_at == [2, 5, 9]
    payloads = _payloads(env, job.id)
    assert [p["price"] for p in payloads] == [PATH[2], PATH[5], PATH[9]]
    assert all(p["symbol"] == "EURUSD" and p["trigger_type"] == "price" for p in payloads)
    with session_scope(env.db) as s:
        assert s.get(ScheduledJob, job.id).run_count == 3


def test_expired_trigger_is_deactivated(env):
    """A price job past its expiry fires nothing and is paused with reason 'expired'."""
    _, job = _price_job(env)
    with session_scope(env.db) as s:
        row = s.get(ScheduledJob, job.id)
        start = next_minute(row.created_at)
        row.trigger_config = {**row.trigger_config,
                              "expires_at": (start + timedelta(seconds=7)).isoformat()}
    feed = PathFeed(start, STEP, {"EURUSD": PATH})
    for i in range(4):
        now = start + timedelta(seconds=STEP * i)
        _service(env, feed, lambda now=now: now).tick_market()
    with session_scope(env.db) as s:
        row = s.get(ScheduledJob, job.id)
        assert row.is_active is False and row.paused_reason == "expired"
    assert _payloads(env, job.id) == []


def test_finished_run_does_not_reset_trigger_state(env):
    """A run finishing (run counters and updated_at move) keeps the trigger's fire count."""
    _, job = _price_job(env, {"max_fires": 5})
    with session_scope(env.db) as s:
        start = next_minute(s.get(ScheduledJob, job.id).created_at)
    feed = PathFeed(start, STEP, {"EURUSD": PATH})
    clock = {"now": start}
    svc = _service(env, feed, lambda: clock["now"])
    for i in range(3):
        clock["now"] = start + timedelta(seconds=STEP * i)
        svc.tick_market()
    assert svc._watcher.state(job.id).fire_count == 1
    with session_scope(env.db) as s:  # what the queue does when the execution ends
        row = s.get(ScheduledJob, job.id)
        row.consecutive_failures, row.updated_at = 0, row.updated_at + timedelta(seconds=5)
    svc.sync()
    assert svc._watcher.state(job.id).fire_count == 1


def test_deactivated_workflow_fires_nothing(env):
    """A schedule whose workflow was deactivated records the fire as refused, runs nothing."""
    wf, job = _price_job(env)
    with session_scope(env.db) as s:
        from agentic_app.db.models import Workflow

        s.get(Workflow, wf).is_active = False
    svc = SchedulerService(env.settings, redis_url=env.redis)
    assert svc.fire(job.id, job.created_at + timedelta(seconds=1), {"price": 1.2}) == 0
    from agentic_app.db.scheduler_models import MissedRun

    with session_scope(env.db) as s:
        missed = s.exec(select(MissedRun)).all()
    assert [m.reason for m in missed] == ["refused"] and "deactivated" in missed[0].detail
    assert _payloads(env, job.id) == []


def test_a_scheduler_without_the_lease_enqueues_no_market_fire(env):
    """A former leader whose lease is gone (held by another) drops its tick's fires."""
    _, job = _price_job(env)
    with session_scope(env.db) as s:
        start = next_minute(s.get(ScheduledJob, job.id).created_at)
    feed = PathFeed(start, STEP, {"EURUSD": PATH})
    clock = {"now": start}
    stale = SchedulerService(env.settings, redis_url=env.redis, market=feed,
                             now=lambda: clock["now"])
    stale._aps, stale.leader = None, True  # believes it leads, but another holds the lease
    other = SchedulerService(env.settings, redis_url=env.redis)
    assert other.lease.acquire()
    stale.sync()
    fired = 0
    for i in range(3):
        clock["now"] = start + timedelta(seconds=STEP * i)
        fired += stale.tick_market()
    assert fired == 0 and stale.leader is False
    assert _payloads(env, job.id) == []


def test_stale_feed_fires_nothing_and_the_schedule_says_data_stale(env):
    """When the feed stops, 'price > 1.10' fires nothing even though the last price was
    above it, the schedule shows 'data stale: ...'; once data is back it fires and the mark
    is gone."""
    _, job = _price_job(env, {"overlap_policy": "allow"})
    with session_scope(env.db) as s:
        start = next_minute(s.get(ScheduledJob, job.id).created_at)
    feed = PathFeed(start, STEP, {"EURUSD": [1.09, 1.09, 1.2]})  # the feed stops at bar 2
    clock = {"now": start}
    svc = _service(env, feed, lambda: clock["now"])
    clock["now"] = start + timedelta(seconds=STEP)
    assert svc.tick_market() == 0
    assert env.app.schedules.get(env.actor, job.id).config_error is None
    for k in range(6, 9):  # bar 2 closed long ago (past the catch-up window): nothing fires
        clock["now"] = start + timedelta(seconds=STEP * k)
        assert svc.tick_market() == 0
        problem = env.app.schedules.get(env.actor, job.id).config_error
        assert problem.startswith("data stale: EURUSD: ")
    assert env.app.schedules.view(env.app.schedules.get(env.actor, job.id))[
        "config_error"].startswith("data stale")
    with session_scope(env.db) as s:  # the owner is alerted once, as data_stale
        alerts = s.exec(select(Notification).where(
            Notification.scheduled_job_id == job.id)).all()
    assert [(a.kind, a.user_id) for a in alerts] == [("data_stale", env.actor.id)]
    assert "EURUSD" in alerts[0].body
    feed.path["EURUSD"] += [1.09] * 7 + [1.2] * 3  # data is back: bars 3.. (9: 1.09, 10: 1.2)
    clock["now"] = start + timedelta(seconds=STEP * 9)
    assert svc.tick_market() == 0
    assert env.app.schedules.get(env.actor, job.id).config_error is None
    clock["now"] = start + timedelta(seconds=STEP * 10)
    assert svc.tick_market() == 1
    assert [p["price"] for p in _payloads(env, job.id)] == [1.2]
