"""Job queue behaviour with real worker processes: order, retries, cancel, limits, pause."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import ExecutionEvent, JobQueueEntry, Workflow, WorkflowExecution
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.enqueue import DuplicateJobError, enqueue_execution
from agentic_app.engine.queue.keys import DUE_KEY, rq_job_id, slots_key
from agentic_app.engine.queue.retry import retry_job
from agentic_app.engine.queue.rows import get_job, queue_depth

from .conftest import QueueEnv, record_workflow, wait_for


def _enqueue(env: QueueEnv, user_id: int, workflow_id: int, **kw) -> JobQueueEntry:
    return enqueue_execution(db=env.db, redis=env.redis,
                                workflow_id=workflow_id, user_id=user_id,
                                settings=env.settings, **kw)


def _status(env: QueueEnv, job_id: int) -> str:
    return get_job(env.db, job_id).status


def _starts(env: QueueEnv, key: str = "t") -> list[dict]:
    return [json.loads(x) for x in env.redis.lrange(f"{key}:starts", 0, -1)]


def test_job_runs_to_completion_with_matching_rows(qenv: QueueEnv) -> None:
    """An enqueued job goes pending -> completed; execution row and events agree."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    job = _enqueue(qenv, uid, wf)
    assert job.status == "pending" and job.rq_job_id == rq_job_id(job.id, 1)
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, job.id) == "completed", 20, message="completion")
    done = get_job(qenv.db, job.id)
    assert done.started_at is not None and done.completed_at is not None
    assert done.retry_count == 0 and done.error_message is None
    with session_scope(qenv.db_url) as s:
        ex = s.get(WorkflowExecution, done.execution_id)
        types = [e.type for e in s.exec(select(ExecutionEvent).where(
            ExecutionEvent.execution_id == ex.id).order_by(ExecutionEvent.seq))]
    assert ex.status == "completed" and ex.finished_at is not None
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionFinished"


def test_higher_priority_runs_first(qenv: QueueEnv) -> None:
    """Jobs queued while no worker runs start high, then normal, then low priority."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    low = _enqueue(qenv, uid, wf, priority=-1)
    normal = _enqueue(qenv, uid, wf, priority=0)
    high = _enqueue(qenv, uid, wf, priority=5)
    qenv.start_workers(1)
    wait_for(lambda: len(_starts(qenv)) == 3, 20, message="three starts")
    order = [s["execution_id"] for s in _starts(qenv)]
    assert order == [high.execution_id, normal.execution_id, low.execution_id]


@pytest.mark.slow
def test_retryable_failure_retried_after_1_5_15_seconds(qenv: QueueEnv) -> None:
    """A retryable failure is retried 3 times after ~1 s, 5 s, 15 s (tolerance -0.05/+1.5 s);
    every attempt is numbered and the event history of all attempts is kept, seq contiguous."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow(fail="retryable"))
    job = _enqueue(qenv, uid, wf)
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, job.id) == "failed", 45, interval=0.2, message="final fail")
    starts = _starts(qenv)
    assert [s["attempt"] for s in starts] == [1, 2, 3, 4]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(starts)]
    for gap, delay in zip(gaps, [1, 5, 15], strict=True):
        assert delay - 0.05 <= gap <= delay + 1.5, (gaps, "vs", [1, 5, 15])
    done = get_job(qenv.db, job.id)
    assert done.retry_count == 3 and done.attempt == 4
    assert "retryable failure on attempt 4" in done.error_message
    with session_scope(qenv.db_url) as s:
        events = s.exec(select(ExecutionEvent).where(
            ExecutionEvent.execution_id == done.execution_id).order_by(ExecutionEvent.seq)).all()
        ex = s.get(WorkflowExecution, done.execution_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.type == "ExecutionStarted" for e in events) == 4
    assert ex.status == "failed" and ex.attempt == 4


def test_fatal_failure_is_not_retried(qenv: QueueEnv) -> None:
    """A fatal failure ends the job at once: one attempt, status failed, no retry."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow(fail="fatal"))
    job = _enqueue(qenv, uid, wf)
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, job.id) == "failed", 20, message="failure")
    done = get_job(qenv.db, job.id)
    assert done.retry_count == 0 and done.attempt == 1
    assert "FatalError" in done.error_message
    assert len(_starts(qenv)) == 1
    assert qenv.redis.zcard(DUE_KEY) == 0


def test_cancel_pending_job_removes_it(qenv: QueueEnv) -> None:
    """Cancelling a pending job marks it cancelled, removes its RQ job and frees its slot."""
    from rq import Queue

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    job = _enqueue(qenv, uid, wf)
    assert qenv.redis.sismember(slots_key(uid), str(job.id))
    out = cancel_job(db=qenv.db, redis=qenv.redis, job_id=job.id,
                        settings=qenv.settings)
    assert out.status == "cancelled" and out.completed_at is not None
    assert Queue("agentic-normal", connection=qenv.redis).count == 0
    assert not qenv.redis.sismember(slots_key(uid), str(job.id))
    with session_scope(qenv.db_url) as s:
        assert s.get(WorkflowExecution, out.execution_id).status == "cancelled"
    qenv.start_workers(1)
    other = _enqueue(qenv, uid, wf)
    wait_for(lambda: _status(qenv, other.id) == "completed", 20, message="next job")
    assert [s["execution_id"] for s in _starts(qenv)] == [other.execution_id]


def test_cancel_running_job_stops_its_nodes(qenv: QueueEnv) -> None:
    """Cancelling a running job stops it within seconds: node cancelled, execution finished,
    status cancelled, never retried."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow(sleep_s=60, fail="retryable"))
    job = _enqueue(qenv, uid, wf)
    qenv.start_workers(1)
    wait_for(lambda: _starts(qenv), 20, message="node start")
    out = cancel_job(db=qenv.db, redis=qenv.redis, job_id=job.id,
                        settings=qenv.settings, grace_s=10)
    assert out.status == "cancelled" and out.retry_count == 0
    with session_scope(qenv.db_url) as s:
        types = [e.type for e in s.exec(select(ExecutionEvent).where(
            ExecutionEvent.execution_id == out.execution_id).order_by(ExecutionEvent.seq))]
        assert s.get(WorkflowExecution, out.execution_id).status == "cancelled"
    assert "NodeCancelled" in types and types[-1] == "ExecutionFinished"
    assert qenv.redis.zcard(DUE_KEY) == 0 and len(_starts(qenv)) == 1


def test_manual_retry_runs_a_new_attempt_of_the_same_execution(qenv: QueueEnv) -> None:
    """A failed job retried by hand runs as attempt 2 of the same execution, history kept."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow(fail="fatal", fail_attempts=1))
    job = _enqueue(qenv, uid, wf)
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, job.id) == "failed", 20, message="failure")
    with pytest.raises(Exception, match="only failed or cancelled"):
        retry_job(db=qenv.db, redis=qenv.redis, job_id=_enqueue(
            qenv, uid, qenv.workflow(uid, record_workflow(sleep_s=5))).id, settings=qenv.settings)
    again = retry_job(db=qenv.db, redis=qenv.redis, job_id=job.id,
                         settings=qenv.settings)
    assert again.attempt == 2 and again.execution_id == job.execution_id
    wait_for(lambda: _status(qenv, job.id) == "completed", 20, message="retry completion")
    with session_scope(qenv.db_url) as s:
        events = s.exec(select(ExecutionEvent).where(
            ExecutionEvent.execution_id == job.execution_id).order_by(ExecutionEvent.seq)).all()
    finished = [e for e in events if e.type == "ExecutionFinished"]
    assert [e.data["status"] for e in finished] == ["failed", "completed"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_manual_retry_runs_the_definition_that_failed(qenv: QueueEnv) -> None:
    """The user edits the workflow after a failure (new version, another node): the retry,
    run by a real worker, runs the definition the failed execution ran, not the edit."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow("v1", fail="fatal", fail_attempts=1))
    job = _enqueue(qenv, uid, wf)
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, job.id) == "failed", 20, message="failure")
    with session_scope(qenv.db_url) as s:
        row = s.get(Workflow, wf)
        row.definition = record_workflow("v2")
        row.version += 1
    retry_job(db=qenv.db, redis=qenv.redis, job_id=job.id, settings=qenv.settings)
    wait_for(lambda: _status(qenv, job.id) == "completed", 20, message="retry completion")
    assert [s["attempt"] for s in _starts(qenv, "v1")] == [1, 2]
    assert _starts(qenv, "v2") == []
    fresh = _enqueue(qenv, uid, wf)  # a new run takes the edited version
    wait_for(lambda: _status(qenv, fresh.id) == "completed", 20, message="new run")
    assert len(_starts(qenv, "v2")) == 1
    with session_scope(qenv.db_url) as s:
        assert s.get(WorkflowExecution, job.execution_id).workflow_version == 1
        assert s.get(WorkflowExecution, fresh.execution_id).workflow_version == 2


@pytest.mark.slow
def test_per_user_cap_is_exact_and_does_not_starve_others(qenv: QueueEnv) -> None:
    """30 simultaneous submissions of one user never run more than 10 at once, all
    complete, and another user's job starts while the first user is at the cap."""
    qenv.configure(limits={"max_concurrent_per_user": 10})
    a, b = qenv.user("alice"), qenv.user("bob")
    # alice's jobs are held until released (60 s bound), so the cap is reached and seen
    # however slowly the machine starts them
    wf_a = qenv.workflow(a, record_workflow(sleep_s=60, hold_key="t:release"))
    wf_b = qenv.workflow(b, record_workflow(sleep_s=0.1))
    qenv.start_workers(13)
    import threading

    jobs: list[JobQueueEntry] = []
    lock = threading.Lock()

    def submit() -> None:
        for _ in range(10):
            entry = _enqueue(qenv, a, wf_a)
            with lock:
                jobs.append(entry)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: int(qenv.redis.get(f"t:running:{a}") or 0) >= 10, 20, message="cap")
    bob = _enqueue(qenv, b, wf_b)
    wait_for(lambda: _status(qenv, bob.id) == "completed", 10, message="bob not starved")
    assert int(qenv.redis.get(f"t:running:{a}") or 0) == 10  # alice still at her cap
    qenv.redis.set("t:release", 1)
    wait_for(lambda: all(_status(qenv, j.id) == "completed" for j in jobs), 60,
             interval=0.3, message="all 30 complete")
    peak = max(int(x) for x in qenv.redis.lrange(f"t:concurrency:{a}", 0, -1))
    assert peak == 10
    assert len(_starts(qenv)) == 31
    # jobs that waited were handed their slot by a finishing job (RQ id written in SQL)
    for job in jobs:
        done = get_job(qenv.db, job.id)
        assert done.rq_job_id == rq_job_id(job.id, done.attempt)


def test_daily_cap_refuses_the_101st_execution(qenv: QueueEnv) -> None:
    """A user's 101st execution of the UTC day is refused with max_executions_per_day."""
    from agentic_app.domain.errors import LimitExceededError

    uid, other = qenv.user("alice"), qenv.user("bob")
    wf = qenv.workflow(uid, record_workflow())
    for _ in range(100):
        _enqueue(qenv, uid, wf)
    with pytest.raises(LimitExceededError) as err:
        _enqueue(qenv, uid, wf)
    assert err.value.limit == "max_executions_per_day"
    with session_scope(qenv.db_url) as s:
        assert len(s.exec(select(WorkflowExecution)).all()) == 100
    assert _enqueue(qenv, other, qenv.workflow(other, record_workflow())).status == "pending"


def test_full_queue_and_duplicate_key_are_refused(qenv: QueueEnv) -> None:
    """Past max_queue_size pending jobs enqueue is refused; a taken dedupe_key creates nothing."""
    from agentic_app.domain.errors import LimitExceededError

    qenv.configure(queue_config={"max_queue_size": 5})
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    first = _enqueue(qenv, uid, wf, dedupe_key="job:1:2026-01-01T00:00:00Z")
    with pytest.raises(DuplicateJobError) as dup:
        _enqueue(qenv, uid, wf, dedupe_key="job:1:2026-01-01T00:00:00Z")
    assert dup.value.job_id == first.id
    for _ in range(4):
        _enqueue(qenv, uid, wf)
    with pytest.raises(LimitExceededError) as err:
        _enqueue(qenv, uid, wf)
    assert err.value.limit == "max_queue_size"
    assert queue_depth(qenv.db) == 5


def test_scheduled_job_paused_after_5_consecutive_failures(qenv: QueueEnv) -> None:
    """5 failed executions in a row pause the scheduled job and notify its owner; a success
    in between resets the count."""
    from agentic_app.db.models import ScheduledJob
    from agentic_app.db.trading_models import Notification

    uid = qenv.user("alice")
    bad = qenv.workflow(uid, record_workflow(fail="fatal"))
    good = qenv.workflow(uid, record_workflow())
    with session_scope(qenv.db_url) as s:
        sj = ScheduledJob(workflow_id=bad, user_id=uid, name="nightly", trigger_type="cron")
        s.add(sj)
        s.flush()
        sj_id = sj.id
    plan = [bad] * 4 + [good] + [bad] * 5
    jobs = [_enqueue(qenv, uid, wf, scheduled_job_id=sj_id) for wf in plan]
    qenv.configure(limits={"max_concurrent_per_user": 1})
    qenv.start_workers(1)
    wait_for(lambda: _status(qenv, jobs[-1].id) in ("failed", "completed"), 30,
             message="last job")
    with session_scope(qenv.db_url) as s:
        sj = s.get(ScheduledJob, sj_id)
        notes = s.exec(select(Notification).where(Notification.user_id == uid)).all()
    assert sj.is_active is False and sj.consecutive_failures == 5
    assert "5 consecutive" in sj.paused_reason
    paused = [n for n in notes if n.kind == "schedule_paused"]
    assert len(paused) == 1 and "nightly" in paused[0].title
    # and each final failure alerted once (the alerts tests follow them to the channels)
    assert sorted(n.kind for n in notes if n is not paused[0]) == ["execution_failed"] * 9
