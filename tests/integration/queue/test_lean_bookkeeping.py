"""The simple worker's RQ bookkeeping (engine/runtime/bookkeeping.py) against a real Redis:
fewer round trips, same observable state (heartbeat, worker state, suspension)."""

from __future__ import annotations

import time

import pytest
from rq import Callback, Queue
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer
from rq.suspension import resume, suspend
from rq.worker import WorkerStatus

from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime import bookkeeping
from agentic_app.engine.runtime.worker import AgenticSimpleWorker

from .conftest import RedisCounter


@pytest.fixture
def conn(redis_url):
    client = connect(redis_url)
    yield client
    client.close()


def _worker(conn, *, registered: bool = True) -> AgenticSimpleWorker:
    worker = AgenticSimpleWorker(["lean-test"], connection=conn, serializer=JSONSerializer,
                                 name=f"lean-{time.monotonic_ns()}", worker_ttl=60)
    if registered:
        worker.register_birth()
    return worker


def test_standalone_heartbeats_coalesce_within_a_second(conn):
    worker = _worker(conn)
    counting = RedisCounter(conn)
    worker.heartbeat()
    for _ in range(20):
        worker.heartbeat()
    assert counting.commands.count("HSET") == 1 and counting.commands.count("EXPIRE") == 1
    assert counting.round_trips == 1  # HSET and EXPIRE in one pipeline
    ttl = conn.ttl(worker.key)
    assert 60 < ttl <= 120  # worker_ttl + 60, as RQ sets it
    worker._last_beat -= bookkeeping.HEARTBEAT_EVERY_S  # a second later: written again
    worker.heartbeat()
    assert counting.commands.count("HSET") == 2


def test_heartbeat_with_a_ttl_or_in_a_pipeline_is_never_skipped(conn):
    worker = _worker(conn)
    worker.heartbeat()
    worker.heartbeat(timeout=400)  # a job's TTL (RQ's prepare step): always written
    assert 300 < conn.ttl(worker.key) <= 400
    worker.heartbeat()  # the next standalone one goes out: the key gets its TTL back
    assert 60 < conn.ttl(worker.key) <= 120
    pipe = conn.pipeline()
    worker.heartbeat(pipeline=pipe)
    assert len(pipe.command_stack) == 2
    pipe.execute()


def test_state_is_written_when_it_changes(conn):
    worker = _worker(conn)
    counting = RedisCounter(conn)
    worker.set_state(WorkerStatus.BUSY)
    worker.set_state(WorkerStatus.IDLE)
    worker.set_state(WorkerStatus.IDLE)
    worker.set_state(WorkerStatus.IDLE)
    assert counting.commands.count("HSET") == 2
    assert conn.hget(worker.key, "state").decode() == WorkerStatus.IDLE
    conn.hset(worker.key, "state", "busy")  # a pipelined write is always sent
    pipe = conn.pipeline()
    worker.set_state(WorkerStatus.IDLE, pipeline=pipe)
    pipe.execute()
    assert conn.hget(worker.key, "state").decode() == WorkerStatus.IDLE


def test_suspension_is_read_at_most_once_a_second_and_still_stops_a_burst(conn, monkeypatch):
    import rq.worker.base as rq_base

    reads = []
    real = rq_base.is_suspended
    monkeypatch.setattr(rq_base, "is_suspended", lambda *a, **k: reads.append(1) or real(*a, **k))
    worker = _worker(conn)
    for _ in range(10):
        worker.check_for_suspension(burst=True)
    assert len(reads) == 1
    suspend(conn)
    try:
        worker._next_suspension_check -= bookkeeping.SUSPENSION_CHECK_EVERY_S
        with pytest.raises(StopRequested):
            worker.check_for_suspension(burst=True)
    finally:
        resume(conn)


def test_a_burst_worker_runs_every_job_and_counts_them(conn):
    queue = Queue("lean-test", connection=conn, serializer=JSONSerializer)
    jobs = [queue.enqueue_call("os.getpid") for _ in range(30)]
    worker = _worker(conn, registered=False)
    assert worker.work(burst=True)
    assert all(j.get_status(refresh=True) == "finished" for j in jobs)
    assert int(conn.hget(worker.key, "successful_job_count")) == 30


def test_job_end_heartbeat_only_for_a_job_with_a_callback(conn):
    queue = Queue("lean-test", connection=conn, serializer=JSONSerializer)
    plain = queue.enqueue_call("os.getpid")
    with_callback = queue.enqueue_call("os.getpid", on_success=Callback("os.getpid"))
    worker = _worker(conn)
    counting = RedisCounter(conn)
    worker.handle_execution_ended(plain, queue, 30)
    assert plain.ended_at is not None and counting.commands.count("HSET") == 0
    worker.handle_execution_ended(with_callback, queue, 30)
    assert with_callback.ended_at is not None and counting.commands.count("HSET") == 1
    assert conn.hget(with_callback.key, "last_heartbeat") is not None


def _run_one(conn, worker, job_id: str):
    """Run one no-op job of id ``job_id`` on ``worker`` (burst); the job, reloaded."""
    from rq.job import Job

    queue = Queue("lean-test", connection=conn, serializer=JSONSerializer)
    queue.enqueue_call("os.getpid", job_id=job_id, result_ttl=600)
    assert worker.work(burst=True)
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def test_an_execution_jobs_success_skips_the_dependents_watch_and_leaves_rqs_state(
        conn, monkeypatch):
    """An agentic execution's RQ job never has dependents: its success pipeline goes out
    without RQ's WATCH of the dependents key and the read of that set, and leaves what
    RQ's own success handling leaves (status, result, TTL, registries, worker counters).
    Any other job goes RQ's way."""
    import redis.client
    from rq.worker import SimpleWorker

    watched: list[str] = []
    dependents: list[str] = []
    real_watch, real_dependents = redis.client.Pipeline.watch, Queue.enqueue_dependents
    monkeypatch.setattr(redis.client.Pipeline, "watch",
                        lambda self, *names: watched.extend(map(str, names))
                        or real_watch(self, *names))
    monkeypatch.setattr(Queue, "enqueue_dependents",
                        lambda self, job, **kw: dependents.append(job.id)
                        or real_dependents(self, job, **kw))
    n = time.monotonic_ns()
    lean_worker = _worker(conn, registered=False)
    lean = _run_one(conn, lean_worker, f"agentic-{n}-1")
    assert (watched, dependents) == ([], [])
    stock_worker = SimpleWorker(["lean-test"], connection=conn, serializer=JSONSerializer,
                                name=f"stock-{n}", worker_ttl=60)
    stock = _run_one(conn, stock_worker, f"agentic-{n + 1}-1")
    assert dependents == [stock.id] and watched  # RQ's way, for comparison
    other = _run_one(conn, _worker(conn, registered=False), f"other-{n}")
    assert dependents == [stock.id, other.id]  # not an execution's job: RQ's way

    queue = Queue("lean-test", connection=conn, serializer=JSONSerializer)
    for job, worker in ((lean, lean_worker), (stock, stock_worker)):
        assert job.get_status() == "finished" and isinstance(job.return_value(), int)
        assert 500 < conn.ttl(job.key) <= 600
        assert job.id in queue.finished_job_registry.get_job_ids()
        assert job.id not in queue.started_job_registry.get_job_ids()
        assert int(conn.hget(worker.key, "successful_job_count")) == 1
        assert float(conn.hget(worker.key, "total_working_time")) > 0
