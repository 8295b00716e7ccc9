"""The real scheduler honours each schedule's DST policy, in real time.

A DST change cannot be waited for, so the test compiles (with ``zic``) two private time zones
whose offset changes by 10 seconds a few seconds from now: ``Jump`` moves forward (wall
times [T, T+10 s) do not exist), ``Back`` moves back (wall times [T, T+10 s) occur twice, at
UTC T-5 s and T+5 s for the wall time T+5 s). Cron jobs at wall time T+5 s with each policy
run under a real ``SchedulerService`` (lease, APScheduler, firing into the queue), and the
fire times that reach ``job_queue`` are checked.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry
from agentic_app.engine.scheduler.service import SchedulerService

LEAD_S = 20
"""Seconds from now to the offset change (time to create the jobs and start)."""


@pytest.fixture
def test_zones(tmp_path):
    """(T, jump zone name, back zone name): zones compiled into a private TZ path."""
    if shutil.which("zic") is None:
        pytest.fail("zic (tzdata compiler) is needed for this test")
    at = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
    tag = uuid.uuid4().hex[:8]
    jump, back = f"Test/Jump{tag}", f"Test/Back{tag}"
    until = f"{at:%Y %b %d %H:%M:%S}u"
    source = tmp_path / "zones.txt"
    source.write_text(f"Zone {jump} 0:00 - TA {until}\n\t0:00:10 - TB\n"
                      f"Zone {back} 0:00:10 - TA {until}\n\t0:00 - TB\n")
    subprocess.run(["zic", "-d", str(tmp_path / "zi"), str(source)], check=True)
    old = zoneinfo.TZPATH
    zoneinfo.reset_tzpath(to=[str(tmp_path / "zi"), *old])
    try:
        yield at, jump, back
    finally:
        zoneinfo.reset_tzpath(to=old)


def _fired_at(env, job_id: int) -> list[datetime]:
    with session_scope(env.db) as s:
        rows = s.exec(select(JobQueueEntry).where(JobQueueEntry.scheduled_job_id == job_id)
                      .order_by(JobQueueEntry.id)).all()
    return [datetime.fromisoformat(r.dedupe_key.split(":", 2)[2]) for r in rows]


def test_scheduler_fires_by_dst_policy_in_real_time(env, test_zones):
    """Gap: default runs at the gap's end T, shift at T+5 s, skip not at all.
    Overlap: default and first run at T-5 s, second at T+5 s; each exactly once."""
    at, jump, back = test_zones
    wall = at + timedelta(seconds=5)
    expression = f"{wall.second} {wall.minute} {wall.hour} * * *"
    cases = {  # name: (zone, policy, expected UTC fire times within the window)
        "gap-default": (jump, None, [at]),
        "gap-shift": (jump, {"nonexistent": "shift"}, [at + timedelta(seconds=5)]),
        "gap-skip": (jump, {"nonexistent": "skip"}, []),
        "back-default": (back, None, [at - timedelta(seconds=5)]),
        "back-first": (back, {"ambiguous": "first"}, [at - timedelta(seconds=5)]),
        "back-second": (back, {"ambiguous": "second"}, [at + timedelta(seconds=5)]),
    }
    jobs = {}
    for name, (zone, policy, _) in cases.items():
        wf = env.workflow({"type": "schedule_trigger",
                           "params": {"cron_expression": expression, "timezone": zone}}, name)
        config = {"overlap_policy": "allow"}
        if policy:
            config["dst_policy"] = policy
        jobs[name] = env.app.schedules.create(env.actor, workflow_id=wf, trigger_type="cron",
                                              trigger_config=config)
    for name in ("gap-shift", "back-second"):  # the stored next run is the policy's instant
        assert env.app.schedules.get(env.actor, jobs[name].id).next_run.replace(
            tzinfo=UTC) == cases[name][2][0]
    assert datetime.now(UTC) < at - timedelta(seconds=7), "setup too slow for the window"
    service = SchedulerService(env.settings, redis_url=env.redis, sync_interval_s=0.5)
    runner = threading.Thread(target=service.run, kwargs={"max_seconds": LEAD_S + 20},
                              daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + LEAD_S + 15
        while datetime.now(UTC) < at + timedelta(seconds=9) and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(1.0)  # let the last fire reach the queue
    finally:
        service.stop()
        runner.join(timeout=10)
    for name, (_, _, expected) in cases.items():
        assert _fired_at(env, jobs[name].id) == expected, name
