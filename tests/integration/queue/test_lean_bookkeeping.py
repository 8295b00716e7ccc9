"""The simple worker's RQ bookkeeping (engine/runtime/bookkeeping.py) against a real Redis:
fewer round trips, same observable state (heartbeat, worker state, suspension)."""

from __future__ import annotations

import os
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


def _worker(conn, *, registered: bool = True, cls: type = AgenticSimpleWorker):
    """A worker of ``cls`` (ours, or RQ's own SimpleWorker to compare with) on lean-test."""
    worker = cls(["lean-test"], connection=conn, serializer=JSONSerializer,
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


def _started(conn, worker, job_id: str, **enqueue_kwargs):
    """Enqueue a no-op job of id ``job_id``, dequeue it as ``worker`` does (its job class)
    and run RQ's two start steps on ``worker``; (the job, its queue, round trips the start
    steps took)."""
    queue = Queue("lean-test", connection=conn, serializer=JSONSerializer)
    queue.enqueue_call("os.getpid", job_id=job_id, result_ttl=600, **enqueue_kwargs)
    job, queue = Queue.dequeue_any([queue], None, connection=conn, serializer=JSONSerializer,
                                   job_class=worker.job_class)
    counting = RedisCounter(conn)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return job, queue, counting.round_trips


def test_an_execution_jobs_start_is_one_round_trip_and_leaves_rqs_state(conn):
    """RQ's two start pipelines (Execution record + state busy; current job, heartbeats,
    job started) go out as one for an execution's job, leaving what RQ's own leave; any
    other job goes RQ's way."""
    from rq.worker import SimpleWorker

    n = time.monotonic_ns()
    lean_worker = _worker(conn)
    stock_worker = _worker(conn, cls=SimpleWorker)
    lean, _, lean_trips = _started(conn, lean_worker, f"agentic-{n}-1")
    stock, queue, stock_trips = _started(conn, stock_worker, f"agentic-{n + 1}-1")
    other_trips = _started(conn, _worker(conn), f"other-{n}")[2]
    assert (lean_trips, stock_trips, other_trips) == (1, 2, 2)
    for job, worker in ((lean, lean_worker), (stock, stock_worker)):
        fields = conn.hgetall(job.key)
        assert (fields[b"status"], fields[b"worker_name"]) == (b"started", worker.name.encode())
        assert job.id in queue.started_job_registry.get_job_ids()
        assert conn.exists(worker.execution.key) == 1
        assert conn.hget(worker.key, "state") == b"busy"
        assert conn.hget(worker.key, "current_job") == job.id.encode()
        assert 0 < conn.ttl(worker.key) <= worker.get_heartbeat_ttl(job)


def test_after_an_execution_jobs_success_the_worker_is_idle_without_more_writes(conn):
    """The idle state and the heartbeat that gives the worker's key its TTL back go out in
    the success pipeline: the standalone ones RQ sends next carry nothing and are skipped."""
    worker = _worker(conn)
    job, queue, _ = _started(conn, worker, f"agentic-{time.monotonic_ns()}-1")
    assert conn.ttl(worker.key) > 120  # the job's heartbeat TTL (its timeout + 60 s)
    worker.perform_job(job, queue)
    counting = RedisCounter(conn)
    worker.set_state(WorkerStatus.IDLE)  # what execute_job and the dequeue loop send next
    worker.heartbeat()
    assert counting.round_trips == 0
    assert conn.hget(worker.key, "state") == b"idle"
    assert 100 < conn.ttl(worker.key) <= 120  # worker_ttl + 60
    assert job.get_status(refresh=True) == "finished"


def test_a_stop_signal_as_a_job_succeeds_is_a_warm_stop_as_with_rq(conn):
    """The success pipeline writes the idle state, but the worker stays busy until the job's
    perform_job returns: a stop requested then ends the worker after the job (as RQ's own
    worker does) instead of failing the job and losing the stop."""
    import signal

    worker = _worker(conn)
    job, queue, _ = _started(conn, worker, f"agentic-{time.monotonic_ns()}-1")
    real = worker.handle_job_success

    def success_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        worker.request_stop(signal.SIGTERM, None)

    worker.handle_job_success = success_then_stop
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert worker.perform_job(job, queue) is True
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert job.get_status(refresh=True) == "finished"
    assert worker._stop_requested
    assert conn.hget(worker.key, "state") == b"idle" and worker.get_state() == "idle"


def test_an_execution_jobs_start_leaves_rqs_execution_records(conn):
    """The one-round-trip start leaves RQ's execution records as RQ's two pipelines do."""
    from rq.executions import ExecutionRegistry
    from rq.worker import SimpleWorker

    n = time.monotonic_ns()
    stock_worker = _worker(conn, cls=SimpleWorker)
    for worker, rid in ((_worker(conn), f"agentic-{n}-1"), (stock_worker, f"agentic-{n + 1}-1")):
        job, queue, _ = _started(conn, worker, rid)
        executions = ExecutionRegistry(job_id=job.id, connection=conn)
        assert executions.get_execution_ids() == [worker.execution.id]
        ttl = worker.get_heartbeat_ttl(job)
        assert ttl - 5 < conn.ttl(worker.execution.key) <= ttl
        assert conn.llen(queue.intermediate_queue_key) == 0


def test_an_execution_jobs_key_is_persisted_at_its_start_not_in_a_round_trip_of_its_own(conn):
    """RQ's Job.perform makes the job's key persistent (a job enqueued with a ``ttl`` must
    not expire while it runs) in a round trip of its own; for an execution's job the start
    pipeline carries that PERSIST and perform sends nothing before the function runs. The
    stock worker's job and any other job keep RQ's way."""
    from rq.worker import SimpleWorker

    n = time.monotonic_ns()
    runs = {"lean": (_worker(conn), f"agentic-{n}-1"),
            "stock": (_worker(conn, cls=SimpleWorker), f"agentic-{n + 1}-1"),
            "other": (_worker(conn), f"other-{n}")}
    trips = {}
    for name, (worker, job_id) in runs.items():
        job, _, start_trips = _started(conn, worker, job_id, ttl=500)
        started_ttl = conn.ttl(job.key)
        counting = RedisCounter(conn)
        assert job.perform() == os.getpid()
        trips[name] = (start_trips, counting.round_trips, list(counting.commands))
        assert conn.ttl(job.key) == -1, name  # persistent while it runs (RQ's promise)
        if name == "lean":
            assert started_ttl == -1  # already at the start
            assert job.persisted is False  # used once: a second perform is RQ's own
    assert trips["lean"] == (1, 0, [])
    assert trips["stock"] == (2, 1, ["PERSIST"])
    assert trips["other"] == (2, 1, ["PERSIST"])
