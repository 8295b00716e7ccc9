"""``worker --slots N``: several executions at once in one worker process (real RQ worker
processes, real Redis, SQLite): concurrency, per-user cap, timeout and cancel of one while
the others run, SIGKILL with several in flight -> every attempt recovered."""

from __future__ import annotations

import time

import psutil
import pytest

from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.rows import get_job

from .conftest import QueueEnv, kill_tree, record_workflow, wait_for


def _enqueue(env: QueueEnv, user_id: int, workflow_id: int):
    return enqueue_execution(db=env.db, redis=env.redis, workflow_id=workflow_id,
                             user_id=user_id, settings=env.settings)


def _running(env: QueueEnv, users: list[int]) -> int:
    return sum(int(env.redis.get(f"t:running:{u}") or 0) for u in users)


def _peak(env: QueueEnv, user_id: int) -> int:
    return max(int(x) for x in env.redis.lrange(f"t:concurrency:{user_id}", 0, -1))


def _worker_pids(proc) -> list[int]:
    root = psutil.Process(proc.pid)
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


@pytest.mark.slow
def test_one_process_runs_many_at_once_and_the_per_user_cap_holds(qenv: QueueEnv) -> None:
    """4 users x 12 executions held until released, one worker process with 40 slots: 40
    are in flight at once in that one process, no user ever has more than 10 running, and
    once released all 48 complete (the 8 that waited for a slot included)."""
    qenv.configure(limits={"max_concurrent_per_user": 10})
    users = [qenv.user(f"u{i}") for i in range(4)]
    # held until the test sets the release key (a barrier, so a slow machine that starts
    # the 40 over several seconds still sees them all in flight together); 60 s bound
    wfs = {u: qenv.workflow(u, record_workflow(sleep_s=60, hold_key="t:release"))
           for u in users}
    proc = qenv.start_workers(1, slots=40)
    assert len(_worker_pids(proc)) == 1  # no work-horse, no pool child
    jobs = [_enqueue(qenv, u, wfs[u]) for u in users for _ in range(12)]
    wait_for(lambda: _running(qenv, users) >= 40, 30, message="40 in flight")
    assert qenv.worker_count() == 1 and len(_worker_pids(proc)) == 1
    time.sleep(0.5)  # the cap holds while they are held: the 8 others do not start
    assert _running(qenv, users) == 40 and qenv.redis.llen("t:starts") == 40
    qenv.redis.set("t:release", 1)
    wait_for(lambda: all(get_job(qenv.db, j.id).status == "completed" for j in jobs), 60,
             interval=0.3, message="all 48 complete")
    assert all(_peak(qenv, u) == 10 for u in users)
    assert qenv.redis.llen("t:starts") == 48


@pytest.mark.slow
def test_timeout_and_cancel_of_one_while_the_others_complete(qenv: QueueEnv) -> None:
    """In one slots worker: one execution exceeds the execution timeout (failed, timeout
    error), another is cancelled (cancelled, not retried); four others beside them complete."""
    qenv.configure(queue_config={"job_timeout_seconds": 3, "max_retries": 0,
                                 "retry_delay_seconds": [1]})
    uid = qenv.user("alice")
    slow = qenv.workflow(uid, record_workflow(sleep_s=60))
    short = qenv.workflow(uid, record_workflow(sleep_s=1.5))
    qenv.start_workers(1, slots=8)
    stuck, doomed = _enqueue(qenv, uid, slow), _enqueue(qenv, uid, slow)
    others = [_enqueue(qenv, uid, short) for _ in range(4)]
    wait_for(lambda: qenv.redis.llen("t:starts") >= 6, 20, message="6 in flight")
    out = cancel_job(db=qenv.db, redis=qenv.redis, job_id=doomed.id,
                     settings=qenv.settings, grace_s=10)
    assert out.status == "cancelled" and out.retry_count == 0
    wait_for(lambda: all(get_job(qenv.db, j.id).status == "completed" for j in others), 20,
             message="the others complete")
    wait_for(lambda: get_job(qenv.db, stuck.id).status == "failed", 20, message="timeout")
    failed = get_job(qenv.db, stuck.id)
    assert "Timeout" in (failed.error_message or "")
    assert get_job(qenv.db, doomed.id).status == "cancelled"
    # the worker is still serving after both
    again = _enqueue(qenv, uid, short)
    wait_for(lambda: get_job(qenv.db, again.id).status == "completed", 20,
             message="a later execution")


@pytest.mark.slow
def test_sigkill_with_several_in_flight_recovers_every_one(qenv: QueueEnv) -> None:
    """SIGKILL of a slots worker running 8 executions of 2 users: every attempt is declared
    dead (no heartbeat), retried and completed by a new worker; none is lost or doubled."""
    users = [qenv.user("alice"), qenv.user("bob")]
    # held until released (60 s bound): all 8 are surely still running when the kill comes
    wfs = {u: qenv.workflow(u, record_workflow(sleep_s=60, hold_key="t:release"))
           for u in users}
    victim = qenv.start_workers(1, slots=10)
    jobs = [_enqueue(qenv, u, wfs[u]) for u in users for _ in range(4)]
    wait_for(lambda: qenv.redis.llen("t:starts") >= 8, 20, message="8 in flight")
    assert all(get_job(qenv.db, j.id).status == "running" for j in jobs)
    kill_tree(victim.pid)
    victim.wait(timeout=10)
    qenv.procs.remove(victim)
    for u in users:  # the killed nodes never decremented their counters
        qenv.redis.delete(f"t:running:{u}")
    qenv.redis.set("t:release", 1)  # the retried attempts run straight through
    qenv.start_workers(1, slots=10)
    wait_for(lambda: all(get_job(qenv.db, j.id).status == "completed" for j in jobs), 90,
             interval=0.3, message="all 8 recovered")
    done = [get_job(qenv.db, j.id) for j in jobs]
    assert all(d.attempt == 2 and d.retry_count == 1 for d in done)
    assert qenv.redis.llen("t:starts") == 16  # each ran exactly twice: killed, then retried


def test_slots_argument_is_bounded() -> None:
    """``--slots`` takes 1..MAX_SLOTS; 0, negative and oversized values are refused."""
    import argparse

    from agentic_app.engine.runtime.worker import add_worker_arguments
    from agentic_app.settings import MAX_WORKER_SLOTS, SettingsError, load_settings

    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    assert parser.parse_args([]).slots is None  # then WORKER_SLOTS
    assert load_settings().worker_slots == 1
    assert load_settings(WORKER_SLOTS="40").worker_slots == 40
    assert parser.parse_args(["--slots", "100"]).slots == 100
    for bad in ("0", "-3", str(MAX_WORKER_SLOTS + 1)):
        with pytest.raises(SystemExit):
            parser.parse_args(["--slots", bad])
    with pytest.raises(SettingsError, match="WORKER_SLOTS"):
        load_settings(WORKER_SLOTS=str(MAX_WORKER_SLOTS + 1))


@pytest.mark.slow
def test_sigterm_lets_the_running_executions_finish(qenv: QueueEnv) -> None:
    """SIGTERM of a slots worker with 4 executions in flight (warm stop): the worker takes
    nothing new, the 4 complete as attempt 1, then the process exits."""
    import signal

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow(sleep_s=2.0))
    proc = qenv.start_workers(1, slots=10)
    jobs = [_enqueue(qenv, uid, wf) for _ in range(4)]
    wait_for(lambda: qenv.redis.llen("t:starts") >= 4, 20, message="4 in flight")
    proc.send_signal(signal.SIGTERM)
    late = _enqueue(qenv, uid, wf)
    assert proc.wait(timeout=30) == 0
    done = [get_job(qenv.db, j.id) for j in jobs]
    assert all(d.status == "completed" and d.attempt == 1 for d in done)
    assert get_job(qenv.db, late.id).status == "pending"  # left on the queue for others
    assert qenv.redis.llen("t:starts") == 4
