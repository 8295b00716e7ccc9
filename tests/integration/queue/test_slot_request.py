"""The enqueue's slot reservation: sent before the database transaction and read before its
commit (no round trip of its own), the row inserted marked dispatched and unmarked in the
same transaction when the slots were full, a lost answer asked again without taking two
slots, a late answer given up under the write lock and given back after the commit."""

from __future__ import annotations

import socket

import psycopg
import pytest
import redis as redis_lib
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq.job import Job

from agentic_app.domain.errors import LimitExceededError
from agentic_app.engine.queue import limits
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.keys import slots_key, waiting_key
from agentic_app.engine.queue.limits import SlotRequest
from agentic_app.engine.queue.maintenance import reconcile
from agentic_app.engine.queue.rows import get_job

from .conftest import QueueEnv, record_workflow, wait_for


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request) -> QueueEnv:
    """The queue environment on SQLite and on PostgreSQL (the enqueue has a form for each)."""
    return request.getfixturevalue("qenv" if request.param == "sqlite" else "qenv_postgres")


def _enqueue(env: QueueEnv, user_id: int, workflow_id: int):
    return enqueue_execution(db=env.db, redis=env.redis, workflow_id=workflow_id,
                             user_id=user_id, settings=env.settings)


def _trace(env: QueueEnv, monkeypatch) -> list[str]:
    """Record, in order, the gate call's send and read, the job insert, the statement that
    unmarks a job and the commit (SQLite through SQLAlchemy's events, PostgreSQL through
    psycopg, which the enqueue drives directly)."""
    order: list[str] = []
    conn_cls = redis_lib.connection.Connection
    send, read = conn_cls.send_command, conn_cls.read_response

    def traced_send(self, *args, **kwargs):
        order.append(f"send {args[0]}")
        return send(self, *args, **kwargs)

    def traced_read(self, *args, **kwargs):
        order.append("read")
        return read(self, *args, **kwargs)

    def note(sql: str, params=()) -> None:
        if "INSERT INTO job_queue" in sql:
            order.append("insert")
        elif sql.replace(" ", "").startswith("UPDATEjob_queueSETrq_job_id=") and (
                "NULL" in sql or params[0] is None):
            order.append("unmark")
        elif sql.strip().upper() == "COMMIT":
            order.append("commit")

    monkeypatch.setattr(conn_cls, "send_command", traced_send)
    monkeypatch.setattr(conn_cls, "read_response", traced_read)
    if env.db.engine.dialect.name == "postgresql":
        execute = psycopg.Connection.execute

        def traced_execute(self, query, *args, **kwargs):
            note(query.decode() if isinstance(query, bytes) else str(query))
            return execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", traced_execute)
    else:
        sa.event.listen(env.db.engine, "before_cursor_execute",
                        lambda conn, cur, sql, params, *rest: note(sql, params))
        sa.event.listen(env.db.engine, "commit", lambda conn: order.append("commit"))
    return order


def _after_gate(order: list[str]) -> list[str]:
    """The trace from the gate call on (a new connection's handshake comes first)."""
    return order[order.index("send EVALSHA"):]


def test_gate_is_answered_between_the_insert_and_the_commit(env: QueueEnv,
                                                            monkeypatch) -> None:
    """The gate call goes out before the insert and its answer is read before the commit;
    the job then holds its slot (token swapped for the id) and its RQ job is queued."""
    order = _trace(env, monkeypatch)
    uid = env.user("alice")
    job = _enqueue(env, uid, env.workflow(uid, record_workflow()))
    assert _after_gate(order)[:4] == ["send EVALSHA", "insert", "read", "commit"], order
    assert env.redis.smembers(slots_key(uid)) == {str(job.id).encode()}
    assert Job.exists(job.rq_job_id, connection=env.redis)
    assert get_job(env.db, job.id).rq_job_id == job.rq_job_id
    assert not env.redis.connection_pool._in_use_connections


def test_at_the_cap_the_row_waits_and_gets_the_next_free_slot(env: QueueEnv,
                                                               monkeypatch) -> None:
    """With every slot held, the job inserted as dispatched is unmarked before the commit
    (a committed mark always means a held slot): no RQ job, ``rq_job_id`` NULL, the waiting
    flag raised, the holders unchanged; a freed slot dispatches it."""
    env.configure(limits={"max_concurrent_per_user": 2})
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    holders = [_enqueue(env, uid, wf) for _ in range(2)]
    order = _trace(env, monkeypatch)
    waiting = _enqueue(env, uid, wf)
    assert _after_gate(order)[:5] == ["send EVALSHA", "insert", "read", "unmark", "commit"]
    assert waiting.rq_job_id is None
    row = get_job(env.db, waiting.id)
    assert (row.status, row.rq_job_id) == ("pending", None)
    assert not Job.exists(f"agentic-{waiting.id}-1", connection=env.redis)
    assert env.redis.smembers(slots_key(uid)) == {str(j.id).encode() for j in holders}
    assert env.redis.exists(waiting_key(uid))
    cancel_job(db=env.db, redis=env.redis, job_id=holders[0].id, settings=env.settings)
    row = get_job(env.db, waiting.id)
    assert row.rq_job_id == f"agentic-{waiting.id}-1"
    assert Job.exists(row.rq_job_id, connection=env.redis)
    assert env.redis.smembers(slots_key(uid)) == {str(holders[1].id).encode(),
                                                   str(waiting.id).encode()}


def test_a_lost_answer_is_asked_again_and_takes_one_slot(qenv: QueueEnv) -> None:
    """The connection breaks after the gate call ran: the same token is asked again the
    ordinary way and granted (the gate is idempotent per token: at a cap of 1 a second
    token would be refused), and no connection stays taken from the pool."""
    request = SlotRequest(qenv.redis, 7, 1)
    wait_for(lambda: qenv.redis.scard(slots_key(7)) == 1, 5, message="gate call ran")
    request._conn._sock.shutdown(socket.SHUT_RDWR)  # the answer is lost with the connection
    token = request.token()
    assert token is not None and token.startswith("r:")
    assert qenv.redis.smembers(slots_key(7)) == {token.encode()}
    assert request.token() == token  # read once
    assert not qenv.redis.connection_pool._in_use_connections


def test_redis_down_the_job_is_committed_and_waits(qenv: QueueEnv, caplog) -> None:
    """With Redis unreachable the enqueue still commits; the row waits for a slot (no
    RQ id) and maintenance dispatches it once Redis is back."""
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    down = redis_lib.Redis(port=1, socket_connect_timeout=0.2,  # nothing listens on port 1
                           retry=Retry(NoBackoff(), 0))
    job = enqueue_execution(db=qenv.db, redis=down, workflow_id=wf, user_id=uid,
                            settings=qenv.settings)
    row = get_job(qenv.db, job.id)
    assert (row.status, row.rq_job_id) == ("pending", None)
    assert "not dispatched" in caplog.text
    assert reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)["dispatched"] == 1
    assert Job.exists(get_job(qenv.db, job.id).rq_job_id, connection=qenv.redis)


def test_a_late_answer_is_given_up_under_the_lock_and_given_back_after_the_commit(
        env: QueueEnv, monkeypatch, caplog) -> None:
    """The gate reserved, but its answer is not there within the wait (made so: the
    connection reports nothing to read): the enqueue commits the job unmarked, then reads
    the late answer on the same connection, gives the token back and dispatches the job
    the ordinary way; one slot is held, by the job, and no connection stays taken."""
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    probe = redis_lib.Redis.from_url(env.redis_url)
    can_read = redis_lib.connection.Connection.can_read

    def late(self, timeout=0):
        if timeout:  # the enqueue's bounded wait: answer only after the gate ran
            wait_for(lambda: probe.scard(slots_key(uid)) == 1, 5, message="gate ran")
            return False
        return can_read(self, timeout)

    monkeypatch.setattr(redis_lib.connection.Connection, "can_read", late)
    job = _enqueue(env, uid, wf)
    assert "no answer in" in caplog.text
    row = get_job(env.db, job.id)
    assert row.rq_job_id == f"agentic-{job.id}-1"
    assert Job.exists(row.rq_job_id, connection=env.redis)
    assert env.redis.smembers(slots_key(uid)) == {str(job.id).encode()}  # token given back
    assert not env.redis.connection_pool._in_use_connections


def test_a_flushed_script_cache_costs_the_enqueue_one_call(env: QueueEnv, caplog) -> None:
    """After SCRIPT FLUSH the sent EVALSHA is refused: the gate runs as EVAL at once (the
    script cached again) and the job is dispatched by its enqueue, nothing given up."""
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    env.redis.script_flush()
    job = _enqueue(env, uid, wf)
    assert job.rq_job_id == f"agentic-{job.id}-1"
    assert Job.exists(job.rq_job_id, connection=env.redis)
    assert env.redis.smembers(slots_key(uid)) == {str(job.id).encode()}
    assert "no answer" not in caplog.text
    assert env.redis.script_exists(limits._SHA[limits._GATE_LUA]) == [True]


def test_an_error_before_the_commit_rolls_back_and_gives_the_slot_back(
        env: QueueEnv, monkeypatch) -> None:
    """An exception while the enqueue reads the answer under the lock (inside PostgreSQL's
    pipelined transaction): nothing is committed, the reserved token is given back, no
    connection stays taken."""
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    token = SlotRequest.token

    def failing(self, wait=None):
        if wait is not None:
            wait_for(lambda: env.redis.scard(slots_key(uid)) == 1, 5, message="gate ran")
            raise RuntimeError("boom")
        return token(self, wait)

    monkeypatch.setattr(SlotRequest, "token", failing)
    with pytest.raises(RuntimeError, match="boom"):
        _enqueue(env, uid, wf)
    monkeypatch.undo()
    with env.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM job_queue")).scalar() == 0
    assert env.redis.scard(slots_key(uid)) == 0
    assert not env.redis.connection_pool._in_use_connections


def test_postgres_refused_insert_unmarks_no_other_job(qenv_postgres: QueueEnv) -> None:
    """At the cap, an enqueue refused by the queue-size cap inserts nothing; its unmark
    statement (which finds the job through a transaction-local setting) leaves the job
    the same connection inserted before marked."""
    env = qenv_postgres
    env.configure(limits={"max_concurrent_per_user": 1}, queue_config={"max_queue_size": 1})
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    first = _enqueue(env, uid, wf)
    with pytest.raises(LimitExceededError):
        _enqueue(env, uid, wf)
    assert get_job(env.db, first.id).rq_job_id == first.rq_job_id
    assert env.redis.smembers(slots_key(uid)) == {str(first.id).encode()}
