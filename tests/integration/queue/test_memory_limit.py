"""The per-execution memory limit in a real forking worker: the hog fails, the worker lives."""

from __future__ import annotations

from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.rows import get_job

from .conftest import QueueEnv, wait_for


def test_memory_hog_fails_and_next_execution_runs(qenv: QueueEnv) -> None:
    """With a 200 MB limit, a node holding 600 MB fails with a memory-limit error (fatal, not
    retried); the same worker then runs a small execution to completion."""
    qenv.configure(limits={"memory_limit_mb": 200})
    uid = qenv.user("alice")
    hog = qenv.workflow(uid, {"nodes": [{"id": "hog", "type": "t.alloc",
                                         "params": {"megabytes": 600}}]})
    small = qenv.workflow(uid, {"nodes": [{"id": "ok", "type": "t.alloc",
                                           "params": {"megabytes": 20}}]})
    qenv.start_workers(1, worker_class="fork")
    settings = qenv.settings
    bad = enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=hog,
                               user_id=uid, settings=settings)
    wait_for(lambda: get_job(qenv.db, bad.id).status == "failed", 60,
             message="the hog to fail")
    failed = get_job(qenv.db, bad.id)
    assert "memory" in (failed.error_message or "").lower()
    assert failed.retry_count == 0  # fatal: not retried
    good = enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=small,
                                user_id=uid, settings=settings)
    wait_for(lambda: get_job(qenv.db, good.id).status == "completed", 60,
             message="the next execution to complete")
    assert qenv.procs[0].poll() is None  # the worker pool is still alive
