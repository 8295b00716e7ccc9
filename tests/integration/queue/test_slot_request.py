"""The enqueue's slot reservation: sent before the database transaction and answered after it
(no round trip of its own), the row inserted marked dispatched and made to wait when the
slots were full, a lost answer asked again without taking two slots."""

from __future__ import annotations

import socket

import pytest
import redis as redis_lib
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq.job import Job
from sqlalchemy.exc import OperationalError

from agentic_app.engine.queue import enqueue as enqueue_module
from agentic_app.engine.queue.cancel import cancel_job
from agentic_app.engine.queue.dispatch import release_slot, wait_for_slot
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.keys import slots_key, waiting_key
from agentic_app.engine.queue.limits import SlotRequest
from agentic_app.engine.queue.maintenance import reconcile
from agentic_app.engine.queue.rows import get_job

from .conftest import QueueEnv, record_workflow


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request) -> QueueEnv:
    """The queue environment on SQLite and on PostgreSQL (the enqueue has a form for each)."""
    return request.getfixturevalue("qenv" if request.param == "sqlite" else "qenv_postgres")


def _enqueue(env: QueueEnv, user_id: int, workflow_id: int):
    return enqueue_execution(db=env.db, redis=env.redis, workflow_id=workflow_id,
                             user_id=user_id, settings=env.settings)


def _mark_dispatched(env: QueueEnv, job) -> None:
    """Set the row's RQ id as the enqueue inserts it (and ``job``'s too)."""
    job.rq_job_id = f"agentic-{job.id}-1"
    with env.db.write() as conn:
        conn.execute(sa.text("UPDATE job_queue SET rq_job_id = :r WHERE id = :i"),
                     {"r": job.rq_job_id, "i": job.id})


def test_gate_is_sent_before_the_transaction_and_read_after_its_commit(env: QueueEnv,
                                                                       monkeypatch) -> None:
    """The gate call goes out before the insert and its answer is read after the commit;
    the job then holds its slot (token swapped for the id) and its RQ job is queued."""
    order: list[str] = []
    conn_cls = redis_lib.connection.Connection
    send, read = conn_cls.send_command, conn_cls.read_response

    def traced_send(self, *args, **kwargs):
        order.append(f"send {args[0]}")
        return send(self, *args, **kwargs)

    def traced_read(self, *args, **kwargs):
        order.append("read")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(conn_cls, "send_command", traced_send)
    monkeypatch.setattr(conn_cls, "read_response", traced_read)
    if env.db.engine.dialect.name == "postgresql":  # BEGIN ... COMMIT in one round trip
        enqueue_pg = enqueue_module._enqueue_pg

        def traced_enqueue_pg(*args, **kwargs):
            job = enqueue_pg(*args, **kwargs)
            order.append("commit")
            return job

        monkeypatch.setattr(enqueue_module, "_enqueue_pg", traced_enqueue_pg)
    else:
        sa.event.listen(env.db.engine, "commit", lambda conn: order.append("commit"))
    uid = env.user("alice")
    job = _enqueue(env, uid, env.workflow(uid, record_workflow()))
    sent = order.index("send EVALSHA")  # after a new connection's handshake, if any
    assert order[sent:sent + 3] == ["send EVALSHA", "commit", "read"], order
    assert env.redis.smembers(slots_key(uid)) == {str(job.id).encode()}
    assert Job.exists(job.rq_job_id, connection=env.redis)
    assert get_job(env.db, job.id).rq_job_id == job.rq_job_id
    assert not env.redis.connection_pool._in_use_connections


def test_at_the_cap_the_row_waits_and_gets_the_next_free_slot(env: QueueEnv) -> None:
    """With every slot held, the job inserted as dispatched is made to wait: no RQ job,
    ``rq_job_id`` NULL, the waiting flag raised, the holders unchanged; a freed slot
    dispatches it."""
    env.configure(limits={"max_concurrent_per_user": 2})
    uid = env.user("alice")
    wf = env.workflow(uid, record_workflow())
    holders = [_enqueue(env, uid, wf) for _ in range(2)]
    waiting = _enqueue(env, uid, wf)
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


def test_wait_for_slot_leaves_a_row_that_changed_meanwhile(qenv: QueueEnv) -> None:
    """A row cancelled between the enqueue's commit and its making the row wait stays as
    the cancel left it, and takes no slot."""
    qenv.configure(limits={"max_concurrent_per_user": 1})
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    holder = _enqueue(qenv, uid, wf)
    job = _enqueue(qenv, uid, wf)
    _mark_dispatched(qenv, job)  # as the enqueue inserted it, before it made it wait
    cancel_job(db=qenv.db, redis=qenv.redis, job_id=job.id, settings=qenv.settings)
    release_slot(db=qenv.db, redis=qenv.redis, user_id=uid, job_id=holder.id,
                 settings=qenv.settings)
    assert wait_for_slot(qenv.db, qenv.redis, job=job, settings=qenv.settings) == "skipped"
    assert get_job(qenv.db, job.id).status == "cancelled"
    assert qenv.redis.scard(slots_key(uid)) == 0


def test_a_lost_answer_is_asked_again_and_takes_one_slot(qenv: QueueEnv) -> None:
    """The connection breaks after the gate call was sent: the same token is asked again
    the ordinary way and granted, and the set holds it once."""
    request = SlotRequest(qenv.redis, 7, 3)
    request._conn._sock.shutdown(socket.SHUT_RDWR)  # the answer is lost with the connection
    token = request.token()
    assert token is not None and token.startswith("r:")
    assert qenv.redis.smembers(slots_key(7)) == {token.encode()}
    assert request.token() == token  # read once
    assert not qenv.redis.connection_pool._in_use_connections


def test_a_flushed_script_cache_still_reserves(qenv: QueueEnv) -> None:
    """After SCRIPT FLUSH (a Redis restart does the same) the sent EVALSHA is refused; the
    gate runs as EVAL and reserves, and a full set still refuses."""
    qenv.redis.script_flush()
    first = SlotRequest(qenv.redis, 7, 1).token()
    assert first is not None
    qenv.redis.script_flush()
    assert SlotRequest(qenv.redis, 7, 1).token() is None
    assert qenv.redis.smembers(slots_key(7)) == {first.encode()}


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


def test_a_row_left_marked_without_a_slot_is_made_to_wait_by_maintenance(qenv: QueueEnv
                                                                        ) -> None:
    """An enqueue that found the slots full and died before making its row wait leaves it
    marked dispatched with no slot and no RQ job: reconcile gives it to the gate (full: it
    waits, the holders unchanged) instead of pushing it past the cap, and a freed slot
    dispatches it."""
    qenv.configure(limits={"max_concurrent_per_user": 1})
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    holder = _enqueue(qenv, uid, wf)
    orphan = _enqueue(qenv, uid, wf)
    _mark_dispatched(qenv, orphan)
    counts = reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)
    assert counts["requeued"] == 0
    assert get_job(qenv.db, orphan.id).rq_job_id is None
    assert not Job.exists(orphan.rq_job_id, connection=qenv.redis)
    assert qenv.redis.smembers(slots_key(uid)) == {str(holder.id).encode()}
    cancel_job(db=qenv.db, redis=qenv.redis, job_id=holder.id, settings=qenv.settings)
    assert Job.exists(orphan.rq_job_id, connection=qenv.redis)
    assert qenv.redis.smembers(slots_key(uid)) == {str(orphan.id).encode()}


def test_a_queued_job_that_lost_its_slot_member_gets_it_back(qenv: QueueEnv) -> None:
    """A job whose RQ job is queued was pushed holding a slot: reconcile restores its
    member of the slot set (without pushing it twice)."""
    uid = qenv.user("alice")
    job = _enqueue(qenv, uid, qenv.workflow(uid, record_workflow()))
    qenv.redis.delete(slots_key(uid))
    counts = reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)
    assert (counts["slots_restored"], counts["requeued"]) == (1, 0)
    assert qenv.redis.smembers(slots_key(uid)) == {str(job.id).encode()}


def test_a_database_error_making_the_row_wait_is_logged_and_repaired(qenv: QueueEnv,
                                                                     monkeypatch,
                                                                     caplog) -> None:
    """The row is committed, so the enqueue still returns it when the statement that makes
    it wait fails (logged); maintenance makes it wait and dispatches it when a slot frees."""
    qenv.configure(limits={"max_concurrent_per_user": 1})
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    holder = _enqueue(qenv, uid, wf)

    def broken(*args, **kwargs):
        raise OperationalError("UPDATE job_queue", {}, Exception("database is locked"))

    monkeypatch.setattr(enqueue_module, "wait_for_slot", broken)
    job = _enqueue(qenv, uid, wf)
    monkeypatch.undo()
    assert "not dispatched" in caplog.text
    assert get_job(qenv.db, job.id).rq_job_id == f"agentic-{job.id}-1"
    reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)
    assert get_job(qenv.db, job.id).rq_job_id is None
    assert qenv.redis.scard(slots_key(uid)) == 1
    cancel_job(db=qenv.db, redis=qenv.redis, job_id=holder.id, settings=qenv.settings)
    assert Job.exists(f"agentic-{job.id}-1", connection=qenv.redis)
