"""Two scheduler processes on one Redis and one database: one fire per (job, time), failover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
import redis
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry
from agentic_app.db.scheduler_models import MissedRun
from agentic_app.engine.scheduler.service import LEADER_KEY, LEASE_TTL_MS
from agentic_app.settings import REPO_ROOT

pytestmark = pytest.mark.slow

EVERY_SECOND = {"type": "schedule_trigger", "params": {"cron_expression": "* * * * * *"}}


def _start(env, name: str) -> subprocess.Popen:
    child_env = dict(os.environ, DATABASE_URL=env.db, REDIS_URL=env.redis)
    log = open(REPO_ROOT / "test-artifacts" / f"scheduler-{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "agentic_app", "scheduler"], cwd=REPO_ROOT,
                            env=child_env, stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _fire_times(env, job_id) -> tuple[list[datetime], list[datetime]]:
    with session_scope(env.db) as s:
        keys = s.exec(select(JobQueueEntry.dedupe_key).where(
            JobQueueEntry.scheduled_job_id == job_id)).all()
        missed = s.exec(select(MissedRun.fire_time).where(
            MissedRun.scheduled_job_id == job_id)).all()
    fired = sorted(datetime.fromisoformat(k.split(":", 2)[2]) for k in keys)
    return fired, sorted(missed)


def test_two_schedulers_one_fire_per_time_and_failover(env):
    """Both run: each second fires once. Leader SIGKILLed: the standby takes over in the TTL,
    and every second of the window is either enqueued once or recorded as missed."""
    (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
    job = env.app.schedules.create(env.actor, workflow_id=env.workflow(EVERY_SECOND),
                                   trigger_type="cron",
                                   trigger_config={"overlap_policy": "allow",
                                                   "misfire_grace_seconds": 30})
    client = redis.Redis.from_url(env.redis)
    first = _start(env, "a")
    second = None
    try:
        _wait(lambda: client.get(LEADER_KEY) is not None, 20)
        second = _start(env, "b")
        time.sleep(6)
        fired, _ = _fire_times(env, job.id)
        assert len(fired) >= 4
        assert len(fired) == len(set(fired))  # one execution per fire time
        holder = client.get(LEADER_KEY)
        first.send_signal(signal.SIGKILL)  # the leader (it took the lease before b started)
        first.wait()
        took = _wait(lambda: client.get(LEADER_KEY) not in (None, holder), LEASE_TTL_MS / 1000 + 5)
        assert took <= LEASE_TTL_MS / 1000 + 3
        time.sleep(4)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
    fired, missed = _fire_times(env, job.id)
    assert len(fired) == len(set(fired))
    assert not set(fired) & set(missed)
    window = fired[0]
    covered = set(fired) | set(missed)
    while window <= fired[-1]:
        assert window in covered, f"{window} neither fired nor recorded as missed"
        window += timedelta(seconds=1)
