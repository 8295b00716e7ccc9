"""Crash recovery: lost RQ jobs, killed workers, a Redis restart - nothing acknowledged is lost."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.keys import slots_key
from agentic_app.engine.queue.maintenance import reconcile
from agentic_app.engine.queue.rows import get_job

from .conftest import QueueEnv, RedisCounter, record_workflow, wait_for


def _enqueue(env: QueueEnv, user_id: int, workflow_id: int, **kw):
    return enqueue_execution(db=env.db, redis=env.redis,
                                workflow_id=workflow_id, user_id=user_id,
                                settings=env.settings, **kw)


def test_reconcile_restores_jobs_and_slots_lost_with_redis(qenv: QueueEnv) -> None:
    """After Redis loses everything, one reconcile pass pushes the dispatched RQ jobs again,
    restores the slot sets, and a later completion frees the slot."""
    from rq.job import Job

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    jobs = [_enqueue(qenv, uid, wf) for _ in range(3)]
    qenv.redis.flushdb()
    counts = reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)
    assert counts["requeued"] == 3
    assert all(Job.exists(j.rq_job_id, connection=qenv.redis) for j in jobs)
    assert qenv.redis.scard(slots_key(uid)) == 3
    assert reconcile(db=qenv.db, redis=qenv.redis,
                     settings=qenv.settings)["requeued"] == 0
    qenv.start_workers(1)
    wait_for(lambda: all(get_job(qenv.db, j.id).status == "completed" for j in jobs),
             20, message="completion")
    assert qenv.redis.scard(slots_key(uid)) == 0


def test_reconcile_requeues_an_rq_job_that_ended_without_its_claim(qenv: QueueEnv) -> None:
    """An RQ job that failed before claiming its attempt (e.g. its claim could not get the
    database) leaves the row pending: the next reconcile pushes it again and it completes."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    job = _enqueue(qenv, uid, wf)
    rq_job = Job.fetch(job.rq_job_id, connection=qenv.redis, serializer=JSONSerializer)
    queue = rq_job.origin
    qenv.redis.lrem(f"rq:queue:{queue}", 0, rq_job.id)  # as a worker that took it
    rq_job.set_status("failed")
    FailedJobRegistry(queue, connection=qenv.redis).add(rq_job, ttl=600)
    counts = reconcile(db=qenv.db, redis=qenv.redis, settings=qenv.settings)
    assert counts["requeued"] == 1
    assert qenv.redis.hget(f"rq:job:{job.rq_job_id}", "status") == b"queued"
    assert job.rq_job_id not in FailedJobRegistry(queue, connection=qenv.redis)
    assert reconcile(db=qenv.db, redis=qenv.redis,
                     settings=qenv.settings)["requeued"] == 0
    qenv.start_workers(1)
    wait_for(lambda: get_job(qenv.db, job.id).status == "completed", 20,
             message="completion")


def test_lost_job_check_reads_a_backlog_in_batches(qenv: QueueEnv, monkeypatch) -> None:
    """A backlog of dispatched jobs is checked in one Redis round trip per batch (not two
    per job, every pass, in a worker process); the lost ones among them are still found."""
    from agentic_app.engine.queue import maintenance

    monkeypatch.setattr(maintenance, "LOST_CHECK_BATCH", 20)
    qenv.configure(limits={"max_concurrent_per_user": 100})
    uid = qenv.user("alice")
    wf = qenv.workflow(uid, record_workflow())
    jobs = [_enqueue(qenv, uid, wf) for _ in range(50)]
    lost = jobs[7], jobs[33]
    for job in lost:  # as if Redis lost these two RQ jobs
        qenv.redis.delete(f"rq:job:{job.rq_job_id}")
    counter = RedisCounter(qenv.redis)
    assert maintenance._requeue_lost(qenv.db, qenv.redis, qenv.settings) == 2
    # 50 jobs: 3 pipelines of <= 20 and the two requeues' round trips (was 100 + those)
    assert counter.commands.count("ZSCORE") == 50 and counter.commands.count("HGET") == 50
    assert counter.round_trips < 20
    for job in lost:  # pushed again, holding their slot
        assert qenv.redis.hget(f"rq:job:{job.rq_job_id}", "status") == b"queued"
        assert qenv.redis.sismember(slots_key(uid), str(job.id))
    assert maintenance._requeue_lost(qenv.db, qenv.redis, qenv.settings) == 0


@pytest.mark.slow
def test_sigkilled_worker_attempt_is_retried_and_order_placed_once(qenv: QueueEnv) -> None:
    """SIGKILL of a forking worker and its work-horse mid-execution: the attempt is detected
    dead, retried (attempt 2) and completed within 60 s; the order is placed exactly once."""
    from agentic_app.db.trading_models import PaperOrder

    uid = qenv.user("alice")
    wf = qenv.workflow(uid, {
        "nodes": [
            {"id": "order", "type": "market_order",
             "params": {"symbol": "EURUSD", "side": "buy", "quantity": 1000}},
            {"id": "rec", "type": "t.record", "params": {"key": "t", "sleep_s": 4}},
        ],
        "edges": [{"from": "order", "to": "rec"}],
    })
    victim = qenv.start_workers(1, worker_class="fork")
    job = _enqueue(qenv, uid, wf)
    wait_for(lambda: qenv.redis.llen("t:starts") == 1, 30, message="first attempt running")
    from .conftest import kill_tree

    killed_at = time.monotonic()
    kill_tree(victim.pid)
    victim.wait(timeout=10)
    qenv.start_workers(1, worker_class="fork")
    wait_for(lambda: get_job(qenv.db, job.id).status == "completed", 60,
             interval=0.2, message="completion after the crash")
    assert time.monotonic() - killed_at < 60
    done = get_job(qenv.db, job.id)
    assert done.attempt == 2 and done.retry_count == 1
    with session_scope(qenv.db_url) as s:
        orders = s.exec(select(PaperOrder).where(
            PaperOrder.idempotency_key == f"{done.execution_id}:order")).all()
    assert len(orders) == 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_restart_mid_run_loses_nothing(qenv: QueueEnv, tmp_path) -> None:
    """A private Redis killed mid-run and restarted empty 3 s later: workers come back, the
    running and the queued (acknowledged) executions all complete."""
    import redis

    sock = tmp_path / "r.sock"
    argv = ["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "",
            "--appendonly", "no"]

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(sock.exists, 10, message="redis socket")
        return proc

    server = start_redis()
    try:
        qenv.redis_url = f"unix://{sock}?db=0"
        qenv.redis = redis.Redis.from_url(qenv.redis_url)
        wait_for(lambda: qenv.redis.ping(), 10, message="private redis")
        uid = qenv.user("alice")
        wf = qenv.workflow(uid, record_workflow(sleep_s=1.5))
        pool = qenv.start_workers(2)
        jobs = [_enqueue(qenv, uid, wf) for _ in range(5)]
        wait_for(lambda: qenv.redis.llen("t:starts") >= 1, 20, message="first start")
        server.kill()
        server.wait()
        sock.unlink(missing_ok=True)
        time.sleep(3)
        server = start_redis()
        wait_for(lambda: all(get_job(qenv.db, j.id).status == "completed"
                             for j in jobs), 60, interval=0.3, message="all complete")
        assert pool.poll() is None
        wait_for(lambda: qenv.worker_count() == 2, 20, message="workers registered again")
    finally:
        server.kill()
        server.wait()
