"""The attempt watcher against a Redis that stalls: cancel polls give up within about a
second (no retries) and heartbeats keep being written, so a running attempt is not taken
for dead by the reconciler while Redis hangs."""

from __future__ import annotations

import socket
import threading
import time

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, User, Workflow, WorkflowExecution, utcnow
from agentic_app.engine.queue.maintenance import HEARTBEAT_INTERVAL_S
from agentic_app.engine.runtime import tasks
from agentic_app.engine.runtime.clients import CANCEL_POLL_TIMEOUT_S, ProcessClients
from agentic_app.settings import load_settings

from .conftest import wait_for


def _running_job(db_url: str) -> int:
    with session_scope(db_url) as s:
        user = User(username="alice", password_hash="x")
        s.add(user)
        s.flush()
        wf = Workflow(user_id=user.id, name="wf", definition={"nodes": []})
        s.add(wf)
        s.flush()
        ex = WorkflowExecution(workflow_id=wf.id, user_id=user.id, status="running")
        s.add(ex)
        s.flush()
        job = JobQueueEntry(workflow_id=wf.id, user_id=user.id, execution_id=ex.id,
                            status="running", attempt=1, started_at=utcnow(),
                            heartbeat_at=utcnow())
        s.add(job)
        s.flush()
        return job.id


def _heartbeat(db_url: str, job_id: int):
    with session_scope(db_url) as s:
        return s.get(JobQueueEntry, job_id).heartbeat_at


def test_stalled_redis_delays_neither_polls_nor_heartbeats(sqlite_db_url) -> None:
    """A 'Redis' that accepts connections and never answers: one cancel poll returns within
    ~1 s, and the watch thread still writes heartbeats every ~2 s."""
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(16)  # never accepted, never answered
    try:
        url = f"redis://127.0.0.1:{stalled.getsockname()[1]}/0"
        settings = load_settings(DATABASE_URL=sqlite_db_url, REDIS_URL=url)
        job_id = _running_job(sqlite_db_url)
        watcher = tasks.AttemptWatcher(clients=ProcessClients(settings), job_id=job_id,
                                       attempt=1, cancel_event=threading.Event())
        t0 = time.monotonic()
        tasks.poll_cancel_flags([watcher])
        assert time.monotonic() - t0 < CANCEL_POLL_TIMEOUT_S + 1.0
        assert not watcher.cancel_event.is_set()

        first = _heartbeat(sqlite_db_url, job_id)
        watcher.start()
        try:
            later = wait_for(lambda: (hb := _heartbeat(sqlite_db_url, job_id)) > first and hb,
                             HEARTBEAT_INTERVAL_S + 3, interval=0.2, message="a heartbeat")
            wait_for(lambda: _heartbeat(sqlite_db_url, job_id) > later,
                     HEARTBEAT_INTERVAL_S + 3, interval=0.2, message="the next heartbeat")
        finally:
            watcher.stop()
    finally:
        stalled.close()


def test_next_attempt_within_the_linger_is_polled_without_a_wake_up(sqlite_db_url,
                                                                   redis_url) -> None:
    """Back-to-back attempts: the watch thread keeps polling for ``WATCH_LINGER_S`` after
    the last attempt started (no wake-up per attempt, also for attempts shorter than a
    poll), a cancel of the next one is still seen within a poll, and the thread sleeps once
    nothing started for the linger."""
    from agentic_app.engine.queue.keys import cancel_key
    from agentic_app.engine.redis_conn import connect

    settings = load_settings(DATABASE_URL=sqlite_db_url, REDIS_URL=redis_url)
    clients = ProcessClients(settings)
    thread = tasks._WatchThread()
    first = tasks.AttemptWatcher(clients=clients, job_id=_running_job(sqlite_db_url),
                                 attempt=1, cancel_event=threading.Event())
    thread.add(first)
    wait_for(lambda: not thread.idle, 2, message="the thread polls")
    thread.discard(first)
    time.sleep(tasks.CANCEL_POLL_S * 2)
    assert not thread.idle  # lingering: the next attempt needs no wake-up
    job_id = 10_001
    second = tasks.AttemptWatcher(clients=clients, job_id=job_id, attempt=1,
                                  cancel_event=threading.Event())
    thread.add(second)
    connect(redis_url).set(cancel_key(job_id), 1)
    t0 = time.monotonic()
    wait_for(second.cancel_event.is_set, 2, interval=0.01, message="the cancel seen")
    assert time.monotonic() - t0 <= tasks.CANCEL_POLL_S + 0.3
    thread.discard(second)
    for _ in range(10):  # attempts shorter than a poll, for longer than the linger
        short = tasks.AttemptWatcher(clients=clients, job_id=job_id + 1, attempt=1,
                                     cancel_event=threading.Event())
        thread.add(short)
        thread.discard(short)
        time.sleep(tasks.WATCH_LINGER_S / 6)
        assert not thread.idle
    wait_for(lambda: thread.idle, tasks.WATCH_LINGER_S + 2, message="asleep after the linger")
