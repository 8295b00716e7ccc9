"""Cancel racing a failure: an attempt that fails while it is being cancelled is not retried,
whichever side sees the other first."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agentic_app.domain.errors import RetryableError
from agentic_app.engine.queue.attempts import claim_attempt, finish_attempt
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.keys import DUE_KEY, cancel_key, slots_key
from agentic_app.engine.queue.rows import get_job
from agentic_app.engine.runtime import clients, tasks
from agentic_app.nodes.base import NodeContext, NodeParams, NodeRegistry, NodeType
from agentic_app.settings import get_settings

from .conftest import QueueEnv, record_workflow, wait_for


def _slots(env: QueueEnv, user_id: int) -> set[str]:
    return {m.decode() for m in env.redis.smembers(slots_key(user_id))}


def test_retry_scheduled_during_the_cancel_grace_is_cancelled_too(qenv: QueueEnv) -> None:
    """The worker's finish schedules a retry after cancel_job raised the flag (a finish that
    could not read it): cancel_job cancels that retry, frees the slot and answers cancelled."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    job = enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=wf,
                               user_id=uid, settings=qenv.settings)
    assert claim_attempt(db=qenv.db, job_id=job.id, attempt=1) is not None
    result: dict[str, Any] = {}

    def cancel() -> None:
        result["job"] = cancel_job(db=qenv.db, redis=qenv.redis,
                                      job_id=job.id, settings=qenv.settings, grace_s=10)

    thread = threading.Thread(target=cancel)
    thread.start()
    wait_for(lambda: qenv.redis.get(cancel_key(job.id)), 5, message="cancel flag")
    outcome = finish_attempt(db=qenv.db, redis=qenv.redis, job_id=job.id,
                                attempt=1, status="failed", error="boom", retryable=True,
                                settings=qenv.settings)
    assert outcome == "retrying"
    thread.join(15)
    out = result["job"]
    assert (out.status, out.attempt, out.retry_count) == ("cancelled", 2, 1)
    assert qenv.redis.zcard(DUE_KEY) == 0
    assert str(job.id) not in _slots(qenv, uid)


class _Flaky(NodeType):
    """Fails at once with a retryable error."""

    type_name = "t.flaky"

    class Params(NodeParams):
        """No parameters."""

    async def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        raise RetryableError("flaky upstream")


@pytest.fixture
def flaky_tasks(qenv: QueueEnv, monkeypatch):
    """Tasks run in this process with a registry holding only ``t.flaky``."""
    registry = NodeRegistry()
    registry.register(_Flaky)
    monkeypatch.setenv("DATABASE_URL", qenv.db_url)
    monkeypatch.setenv("REDIS_URL", qenv.redis_url)
    get_settings.cache_clear()
    clients.configure(registry=registry)
    yield
    clients.configure()
    get_settings.cache_clear()


def test_attempt_failing_while_cancel_flag_is_set_is_not_retried(qenv: QueueEnv,
                                                                 flaky_tasks) -> None:
    """The flag is up when the attempt fails retryably: the job ends cancelled, no retry."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, {"nodes": [{"id": "f", "type": "t.flaky", "params": {}}]})
    job = enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=wf,
                               user_id=uid, settings=get_settings())
    qenv.redis.set(cancel_key(job.id), 1)
    assert tasks.run_execution(job.id, 1) == "cancelled"
    done = get_job(qenv.db, job.id)
    assert (done.status, done.attempt, done.retry_count) == ("cancelled", 1, 0)
    assert qenv.redis.zcard(DUE_KEY) == 0
    assert str(job.id) not in _slots(qenv, uid)


def test_a_run_queued_before_the_kill_switch_is_cancelled_at_its_claim(qenv: QueueEnv,
                                                                       flaky_tasks) -> None:
    """Enqueued, then the kill switch engaged (no cancel reached it): the worker's claim
    cancels the attempt with the reason, runs nothing and schedules no retry."""
    from sqlmodel import Session

    from agentic_app.db.broker_models import TradingHalt
    from agentic_app.db.models import WorkflowExecution

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, {"nodes": [{"id": "f", "type": "t.flaky", "params": {}}]})
    job = enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=wf,
                            user_id=uid, settings=get_settings())
    with Session(qenv.db.engine) as s:
        s.add(TradingHalt(user_id=uid, engaged=True))
        s.commit()
    assert tasks.run_execution(job.id, 1) == "cancelled"
    done = get_job(qenv.db, job.id)
    assert (done.status, done.retry_count) == ("cancelled", 0)
    assert "kill switch" in (done.error_message or "")
    with Session(qenv.db.engine) as s:
        execution = s.get(WorkflowExecution, done.execution_id)
        assert execution.status == "cancelled" and "kill switch" in execution.error
    assert qenv.redis.zcard(DUE_KEY) == 0
    assert str(job.id) not in _slots(qenv, uid)
