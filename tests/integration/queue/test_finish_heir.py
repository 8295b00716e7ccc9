"""A finish hands its slot to the user's next waiting job whether that job was waiting when
the attempt was claimed (the finish's own SQL) or started waiting while it ran (the claim saw
none, so the finish's Redis step reads the waiting flag): SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from agentic_app.db.models import JobQueueEntry
from agentic_app.engine.queue.attempts import claim_attempt, finish_attempt
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.keys import slots_key
from agentic_app.engine.queue.names import QUEUE_NAMES

from .conftest import QueueEnv


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request) -> QueueEnv:
    return request.getfixturevalue("qenv" if request.param == "sqlite" else "qenv_postgres")


def _enqueue(env: QueueEnv, user: int, wf: int) -> JobQueueEntry:
    return enqueue_execution(db=env.db, redis=env.redis, workflow_id=wf, user_id=user,
                             settings=env.settings)


def _row(env: QueueEnv, job_id: int) -> JobQueueEntry:
    with env.db.session() as s:
        return s.get(JobQueueEntry, job_id)


def _slots(env: QueueEnv, user: int) -> set[str]:
    return {m.decode() for m in env.redis.smembers(slots_key(user))}


@pytest.mark.parametrize("waiting_since", ["before the claim", "while it runs"])
def test_the_freed_slot_goes_to_the_waiting_job(env: QueueEnv, waiting_since: str) -> None:
    env.configure(limits={"max_concurrent_per_user": 1})
    user = env.user("heir")
    wf = env.workflow(user, {"nodes": [{"id": "d", "type": "delay",
                                        "params": {"seconds": 0}}]})
    first = _enqueue(env, user, wf)
    second = _enqueue(env, user, wf) if waiting_since == "before the claim" else None
    claimed = claim_attempt(db=env.db, job_id=first.id, attempt=1)
    assert claimed is not None and claimed.waiters is (second is not None)
    if second is None:
        second = _enqueue(env, user, wf)
    assert _row(env, second.id).rq_job_id is None  # waiting: the one slot is held
    assert _slots(env, user) == {str(first.id)}

    outcome = finish_attempt(db=env.db, redis=env.redis, job_id=first.id, attempt=1,
                             status="completed", settings=env.settings,
                             known_state=claimed.state, waiters=claimed.waiters)

    assert outcome == "completed"
    assert _row(env, second.id).rq_job_id == f"agentic-{second.id}-1"
    assert _slots(env, user) == {str(second.id)}
    queued = [j.decode() for q in QUEUE_NAMES
              for j in env.redis.lrange(f"rq:queue:{q}", 0, -1)]
    assert f"agentic-{second.id}-1" in queued


def test_after_a_long_run_the_finish_looks_for_the_waiting_job_itself(env: QueueEnv) -> None:
    """The waiting flag expires (WAITING_FLAG_TTL_S); once a run outlived half of that, the
    task passes ``waiters=True`` and the finish finds the waiting job in SQL."""
    from agentic_app.engine.queue.keys import WAITING_FLAG_TTL_S, waiting_key
    from agentic_app.engine.runtime.tasks import WAITERS_TRUST_S

    assert WAITERS_TRUST_S < WAITING_FLAG_TTL_S
    env.configure(limits={"max_concurrent_per_user": 1})
    user = env.user("late")
    wf = env.workflow(user, {"nodes": [{"id": "d", "type": "delay",
                                        "params": {"seconds": 0}}]})
    first = _enqueue(env, user, wf)
    claimed = claim_attempt(db=env.db, job_id=first.id, attempt=1)
    assert claimed is not None and claimed.waiters is False
    second = _enqueue(env, user, wf)
    env.redis.delete(waiting_key(user))  # the flag expired during a long run
    finish_attempt(db=env.db, redis=env.redis, job_id=first.id, attempt=1,
                   status="completed", settings=env.settings, known_state=claimed.state,
                   waiters=True)
    assert _row(env, second.id).rq_job_id == f"agentic-{second.id}-1"
    assert _slots(env, user) == {str(second.id)}
