"""The real scheduler and trading sessions: a fire while the market is closed is recorded as
skipped with reason ``market_closed`` and enqueues nothing; a 24/7 schedule fires."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.db.trading_models import Notification
from agentic_app.domain.schedule_health import MARKET_CLOSED, REASONS
from agentic_app.domain.sessions import get_calendar
from agentic_app.engine.scheduler.service import SchedulerService
from tests.integration.scheduler.conftest import PathFeed

EVERY_SECOND = {"type": "schedule_trigger", "params": {"cron_expression": "* * * * * *"}}
WINDOW_S = 6


def _closed_exchange(now: datetime) -> str:
    """An exchange closed for the whole test window (XNYS and XTKS hours never overlap)."""
    for name in ("XNYS", "XTKS", "XLON"):
        cal = get_calendar(name)
        probes = [now + timedelta(seconds=s) for s in range(0, 120, 5)]
        if not any(cal.is_open(p) for p in probes):
            return name
    raise AssertionError("no exchange closed right now")


def _rows(env, model, job_id):
    with session_scope(env.db) as s:
        column = model.scheduled_job_id
        return s.exec(select(model).where(column == job_id)).all()


def test_fires_outside_the_session_are_recorded_as_market_closed(env):
    """Every-second jobs for ~6 s: the one limited to a closed exchange's open hours records
    each fire as market_closed and enqueues none; the 24/7 one enqueues; the closed job's
    shown next run is its next fire inside a session (tomorrow or later), not in a second."""
    exchange = _closed_exchange(datetime.now(UTC))
    closed_wf = env.workflow(EVERY_SECOND, "closed")
    open_wf = env.workflow(EVERY_SECOND, "crypto")
    closed = env.app.schedules.create(env.actor, workflow_id=closed_wf, trigger_type="cron",
                                      trigger_config={"overlap_policy": "allow", "session": {
                                          "calendar": exchange, "rule": "open_hours"}})
    crypto = env.app.schedules.create(env.actor, workflow_id=open_wf, trigger_type="cron",
                                      trigger_config={"overlap_policy": "allow", "session": {
                                          "symbol": "BTCUSDT", "rule": "open_hours"}})
    service = SchedulerService(env.settings, redis_url=env.redis, sync_interval_s=0.5)
    runner = threading.Thread(target=service.run, kwargs={"max_seconds": WINDOW_S + 20},
                              daemon=True)
    started = datetime.now(UTC)
    runner.start()
    try:
        deadline = time.monotonic() + WINDOW_S + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if len(_rows(env, MissedRun, closed.id)) >= 3 and len(
                    _rows(env, JobQueueEntry, crypto.id)) >= 3:
                break
        shown = env.app.schedules.get(env.actor, closed.id).next_run
    finally:
        service.stop()
        runner.join(timeout=10)
    missed = _rows(env, MissedRun, closed.id)
    assert len(missed) >= 3
    assert {m.reason for m in missed} == {MARKET_CLOSED}
    assert REASONS[MARKET_CLOSED][0] == "skipped"
    assert all(m.detail == f"{exchange}: market not open" for m in missed)
    assert all(m.fire_time.replace(tzinfo=UTC) >= started - timedelta(seconds=1)
               for m in missed)
    assert _rows(env, JobQueueEntry, closed.id) == []
    assert _rows(env, Notification, closed.id) == []  # a limit the user set: no alert
    assert len(_rows(env, JobQueueEntry, crypto.id)) >= 3
    assert _rows(env, MissedRun, crypto.id) == []
    calendar = get_calendar(exchange)
    shown = shown.replace(tzinfo=UTC)
    assert calendar.is_open(shown) and shown > started + timedelta(minutes=1)


def test_price_trigger_outside_its_symbols_session_is_skipped(env):
    """On a Saturday (FX closed) a 'price > 1.10' trigger on EURUSD limited to its symbol's
    session records each crossing as market_closed; the same trigger without a session runs."""
    path = [1.095, 1.098, 1.101, 1.102, 1.099, 1.1005, 1.103, 1.097, 1.096, 1.104]
    jobs = {}
    for name, extra in (("limited", {"session": {"rule": "open_hours"}}), ("plain", {})):
        wf = env.workflow({"type": "price_trigger",
                           "params": {"symbol": "EURUSD", "condition": "price > 1.10"}}, name)
        jobs[name] = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="price",
                                              trigger_config={"overlap_policy": "allow",
                                                              **extra})
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    feed = PathFeed(saturday, 60.0, {"EURUSD": path})  # one one-minute bar per step
    clock = {"now": saturday}
    service = SchedulerService(env.settings, redis_url=env.redis, market=feed,
                               now=lambda: clock["now"], check_lease=False)
    service.leader = True
    service.sync()
    for i in range(len(path)):
        clock["now"] = saturday + timedelta(seconds=60 * i)
        service.tick_market()
    fire_ticks = [saturday + timedelta(seconds=60 * i) for i in (2, 5, 9)]
    missed = _rows(env, MissedRun, jobs["limited"].id)
    assert sorted(m.fire_time.replace(tzinfo=UTC) for m in missed) == fire_ticks
    assert {(m.reason, m.detail) for m in missed} == {(MARKET_CLOSED, "FX: market not open")}
    assert _rows(env, JobQueueEntry, jobs["limited"].id) == []
    assert len(_rows(env, JobQueueEntry, jobs["plain"].id)) == 3
