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
from agentic_app.domain.sessions import get_calendar
from agentic_app.domain.triggers.session import MARKET_CLOSED
from agentic_app.engine.scheduler.service import SchedulerService

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
    assert all(m.detail == f"{exchange}: market not open" for m in missed)
    assert all(m.fire_time.replace(tzinfo=UTC) >= started - timedelta(seconds=1)
               for m in missed)
    assert _rows(env, JobQueueEntry, closed.id) == []
    assert len(_rows(env, JobQueueEntry, crypto.id)) >= 3
    assert _rows(env, MissedRun, crypto.id) == []
    calendar = get_calendar(exchange)
    shown = shown.replace(tzinfo=UTC)
    assert calendar.is_open(shown) and shown > started + timedelta(minutes=1)
