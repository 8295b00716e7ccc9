"""The Redis step of a finish (engine/queue/finish_redis.py) against a real Redis: held
while a simple worker's ``perform_job`` runs and sent in RQ's success pipeline (one
MULTI/EXEC for both), sent at once everywhere else, and sent on the way out when no success
pipeline took it. Its errors stay its own; the success pipeline's errors are still raised."""

from __future__ import annotations

import contextvars
import json
import time

import pytest
import redis
from rq.serializers import JSONSerializer

from agentic_app.engine.events.bus import decode_events, subscription, user_channel
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.finish_redis import after_finish, held_steps, join, same_server
from agentic_app.engine.queue.keys import cancel_key, slots_key
from agentic_app.engine.queue.names import QUEUE_NAMES
from agentic_app.engine.queue.rows import get_job
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime import clients
from agentic_app.engine.runtime.worker import AgenticSimpleWorker
from agentic_app.settings import get_settings

from .conftest import QueueEnv, RedisCounter

NOOP = {"nodes": [{"id": "d", "type": "delay", "params": {"seconds": 0}}]}


def _finish(env: QueueEnv, client, job_id: int, user_id: int, **kw) -> None:
    after_finish(client, job_id=job_id, attempt=1, user_id=user_id, priority=0,
                 retry=False, delay=0, heir=None, db=env.db, settings=env.settings, **kw)


def test_a_held_step_goes_out_in_the_pipeline_that_joins_it(qenv: QueueEnv):
    """Two clients of one URL (the worker's and its tasks'): the step waits, then travels
    in the joining pipeline, first, in its one MULTI/EXEC; the tasks' client sends nothing."""
    worker_conn, tasks_conn = connect(qenv.redis_url), connect(qenv.redis_url)
    uid = qenv.user("alice")
    worker_conn.sadd(slots_key(uid), "7")
    worker_conn.set(cancel_key(7), 1)
    sent_by_tasks = RedisCounter(tasks_conn)
    with held_steps(worker_conn):
        _finish(qenv, tasks_conn, 7, uid, extra=lambda pipe: pipe.set("fr:extra", "1"))
        assert worker_conn.sismember(slots_key(uid), "7")  # held, nothing sent yet
        assert worker_conn.exists(cancel_key(7), "fr:extra") == 1
        pipe = worker_conn.pipeline()
        settle = join(pipe)
        pipe.set("fr:worker", "1")
        assert [c[0][0] for c in pipe.command_stack] == ["SET", "DEL", "SREM", "EXISTS", "SET"]
        settle(pipe.execute(raise_on_error=False))
    assert not worker_conn.sismember(slots_key(uid), "7")
    assert worker_conn.exists(cancel_key(7)) == 0
    assert worker_conn.get("fr:extra") == b"1" and worker_conn.get("fr:worker") == b"1"
    assert sent_by_tasks.round_trips == 0


@pytest.mark.parametrize("joined", [False, True])
def test_a_step_no_success_pipeline_sent_goes_out_when_the_job_ends(qenv: QueueEnv,
                                                                     joined: bool):
    """The job failed after its finish (no success pipeline), or its success pipeline could
    not be sent (joined, the results never came): the step goes out as perform_job ends."""
    conn = connect(qenv.redis_url)
    uid = qenv.user("bob")
    conn.sadd(slots_key(uid), "8")
    with held_steps(conn):
        _finish(qenv, conn, 8, uid)
        if joined:
            pipe = conn.pipeline()
            join(pipe)
            pipe.reset()  # as a failed execute() leaves it
        assert conn.sismember(slots_key(uid), "8")
    assert not conn.sismember(slots_key(uid), "8")


def test_a_step_for_another_server_or_database_goes_out_at_once(qenv: QueueEnv):
    conn = connect(qenv.redis_url)
    base, db = qenv.redis_url.rsplit("/", 1)
    other = connect(f"{base}/{(int(db) + 1) % 16}")
    assert same_server(conn, connect(qenv.redis_url)) and not same_server(conn, other)
    uid = qenv.user("carol")
    other.sadd(slots_key(uid), "9")
    try:
        with held_steps(conn):
            _finish(qenv, other, 9, uid)
            assert not other.sismember(slots_key(uid), "9")  # not held: sent already
    finally:
        other.delete(slots_key(uid))


def test_the_steps_errors_are_logged_and_the_pipelines_own_are_raised(qenv: QueueEnv,
                                                                     caplog):
    conn = connect(qenv.redis_url)
    uid = qenv.user("dave")
    conn.set("fr:text", "not a number")
    conn.sadd(slots_key(uid), "10")
    with held_steps(conn):  # a command of the step fails: logged, the rest of it applied
        _finish(qenv, conn, 10, uid, extra=lambda pipe: pipe.incr("fr:text"))
        pipe = conn.pipeline()
        settle = join(pipe)
        pipe.set("fr:after", "1")
        settle(pipe.execute(raise_on_error=False))
    assert "finish's Redis step failed" in caplog.text
    assert not conn.sismember(slots_key(uid), "10") and conn.get("fr:after") == b"1"
    conn.sadd(slots_key(uid), "11")
    with held_steps(conn):  # a command of the pipeline's own fails: raised, as execute()
        _finish(qenv, conn, 11, uid)
        pipe = conn.pipeline()
        settle = join(pipe)
        pipe.incr("fr:text")
        with pytest.raises(redis.ResponseError):
            settle(pipe.execute(raise_on_error=False))
    assert not conn.sismember(slots_key(uid), "11")


@pytest.fixture
def in_process_tasks(qenv: QueueEnv, monkeypatch):
    """Tasks run in this process, the per-user cap at 1."""
    monkeypatch.setenv("DATABASE_URL", qenv.db_url)
    monkeypatch.setenv("REDIS_URL", qenv.redis_url)
    monkeypatch.setenv("LIMITS", json.dumps({"max_concurrent_per_user": 1}))
    get_settings.cache_clear()
    clients.configure()
    yield
    clients.configure()
    get_settings.cache_clear()


def test_a_simple_worker_sends_each_finish_in_rqs_success_pipeline(qenv: QueueEnv,
                                                                   in_process_tasks):
    """A real worker runs two executions of one user at the cap of 1: each finish's Redis
    step (events, slot handed to the waiting job and its RQ push, then the slot freed) is
    in the same MULTI/EXEC as RQ's success bookkeeping, and nothing else is lost."""
    settings = get_settings()
    uid = qenv.user("erin")
    wf = qenv.workflow(uid, NOOP)
    first, second = (enqueue_execution(db=qenv.db, redis=qenv.redis, workflow_id=wf,
                                       user_id=uid, settings=settings) for _ in range(2))
    assert qenv.redis.smembers(slots_key(uid)) == {str(first.id).encode()}  # second waits
    conn = connect(qenv.redis_url)
    worker = AgenticSimpleWorker(list(QUEUE_NAMES), connection=conn,
                                 serializer=JSONSerializer, name=f"fr-{time.monotonic_ns()}")
    tasks_conn = clients.process_clients().redis
    assert tasks_conn is not conn
    pipelines: list[list[str]] = []
    slot_key = slots_key(uid)
    slot_writes: list[bool] = []  # per pipeline that writes the user's slots: RQ's success?
    execute = type(conn.pipeline()).execute

    def recorded(pipe, *a, **kw):
        pipelines.append([str(c[0][0]) for c in pipe.command_stack])
        if any(len(c[0]) > 1 and c[0][1] == slot_key for c in pipe.command_stack):
            slot_writes.append("HINCRBY" in pipelines[-1])
        return execute(pipe, *a, **kw)

    with subscription(qenv.redis, user_channel(uid)) as sub:
        try:
            type(conn.pipeline()).execute = recorded
            sent_by_tasks = RedisCounter(tasks_conn)
            assert worker.work(burst=True)
        finally:
            type(conn.pipeline()).execute = execute
        seen: set[int] = set()  # published before work() returned: already buffered
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen) < 2:
            seen |= {e["execution_id"] for e in decode_events(sub.get_message(timeout=0.2))}
    assert (get_job(qenv.db, first.id).status, get_job(qenv.db, second.id).status) == (
        "completed", "completed")
    assert qenv.redis.scard(slots_key(uid)) == 0
    success = [p for p in pipelines if "HINCRBY" in p and "SREM" in p]
    assert len(success) == 2, pipelines  # both finishes went out with RQ's success
    assert "SADD" in success[0] and {"RPUSH", "LPUSH"} & set(success[0])  # the heir's push
    assert "EXISTS" in success[1]  # the last one frees the slot, looks for waiting jobs
    assert slot_writes == [True, True]  # the slots were written in those two only
    assert "SREM" not in sent_by_tasks.commands  # nothing of the step on the tasks' client
    assert seen == {first.execution_id, second.execution_id}


def test_two_held_steps_settle_apart_and_a_waiting_user_is_dispatched(qenv: QueueEnv,
                                                                      monkeypatch):
    """Each held step gets its own slice of the joined pipeline's results: only the user
    whose waiting flag is up is dispatched after the commit."""
    from agentic_app.engine.queue import finish_redis
    from agentic_app.engine.queue.keys import waiting_key

    dispatched: list[int] = []
    monkeypatch.setattr(finish_redis, "dispatch_waiting",
                        lambda **kw: dispatched.append(kw["user_id"]) or 0)
    conn = connect(qenv.redis_url)
    quiet, waiting = qenv.user("frank"), qenv.user("grace")
    conn.sadd(slots_key(quiet), "21")
    conn.sadd(slots_key(waiting), "22")
    conn.set(waiting_key(waiting), 1, ex=60)
    with held_steps(conn):
        _finish(qenv, conn, 21, quiet)
        _finish(qenv, conn, 22, waiting)
        pipe = conn.pipeline()
        pipe.set("fr:first", "1")  # the steps start at a non-zero index
        settle = join(pipe)
        settle(pipe.execute(raise_on_error=False))
        assert dispatched == [waiting]
    assert dispatched == [waiting]  # not sent again on the way out
    assert conn.scard(slots_key(quiet)) == conn.scard(slots_key(waiting)) == 0


def test_a_failing_follow_up_is_logged_and_the_other_steps_still_go_out(qenv: QueueEnv,
                                                                        monkeypatch, caplog):
    """A database error dispatching waiting jobs never escapes the job's end (it would stop
    a worker) nor keeps the next step from going out; a step that comes after the job's end
    goes out at once."""
    from sqlalchemy.exc import OperationalError

    from agentic_app.engine.queue import finish_redis
    from agentic_app.engine.queue.keys import waiting_key

    def broken(**_kw):
        raise OperationalError("SELECT 1", {}, Exception("database went away"))

    monkeypatch.setattr(finish_redis, "dispatch_waiting", broken)
    conn = connect(qenv.redis_url)
    uid, other = qenv.user("ivan"), qenv.user("judy")
    conn.sadd(slots_key(uid), "24")
    conn.sadd(slots_key(other), "25", "26")
    conn.set(waiting_key(uid), 1, ex=60)
    with held_steps(conn):
        _finish(qenv, conn, 24, uid)
        _finish(qenv, conn, 25, other)
    assert "database went away" in caplog.text
    assert conn.scard(slots_key(uid)) == 0 and conn.smembers(slots_key(other)) == {b"26"}
    with held_steps(conn):
        late = contextvars.copy_context()  # e.g. a thread started by the job, ending later
    late.run(_finish, qenv, conn, 26, other)  # its job has ended: sent at once
    assert conn.scard(slots_key(other)) == 0
