"""Fewer Redis round trips for RQ's own worker bookkeeping (a mixin for in-process workers).

Per job, a stock RQ SimpleWorker makes about nine standalone Redis round trips that carry
no information for a worker that runs jobs back to back:

* three heartbeats (before and after the blocking dequeue, and after each job), each an
  HSET and an EXPIRE sent one by one: the worker key's TTL is ``worker_ttl + 60`` s, so a
  heartbeat every second keeps it exactly as alive. The heartbeats RQ sends inside its job
  pipelines (with the job's own TTL) are left alone, and the first standalone one after
  them always goes out (the key gets its worker TTL back after each job), its HSET and
  EXPIRE in one pipeline (one round trip instead of two);
* ``set_state("idle")`` twice in a row (after the job and again before the dequeue): the
  state is written when it changes;
* the ``rq suspend`` check before every dequeue: read at most once a second, so a
  suspension takes effect within a second instead of at the next job;
* the job's heartbeat when its function returned, which only keeps the job alive while a
  success or failure callback runs: sent only for a job that has such a callback;
* at a job's success, the WATCH of its dependents key and the read of that set (RQ enqueues
  the jobs that wait for this one): an agentic execution's RQ job never has dependents (the
  queue enqueues without ``depends_on``, and nothing else knows its id), so for those jobs
  the success pipeline goes out alone. Other jobs keep RQ's way;
* the Redis step of an execution's finish (events published, slot freed or handed on):
  held while RQ's ``perform_job`` runs and sent in its success pipeline, one MULTI/EXEC for
  both (``engine/queue/finish_redis.py``);
* at an execution's start, RQ's two pipelines (the Execution record and state ``busy``, then
  current job, heartbeats and the job marked started) go out as one, with the PERSIST of
  the job's key that RQ's ``Job.perform`` sends on its own next (:class:`StartedJob`);
* after an execution's success, the worker's ``idle`` state and the heartbeat that gives its
  key the worker TTL back (two standalone writes that follow at once) are in that same
  success pipeline.

Measured with ``bench/queue_bench.py`` (see docs/PERFORMANCE.md). The mixin is used only by
workers that run jobs in their own process (no work-horse writes the worker's state behind
its back).
"""

from __future__ import annotations

import time
from typing import Any

from rq import Queue
from rq.executions import Execution
from rq.job import Job, _job_stack
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from agentic_app.engine.queue.finish_redis import held_steps, join
from agentic_app.engine.queue.keys import RQ_JOB_PREFIX

HEARTBEAT_EVERY_S = 1.0
"""Shortest interval between two standalone worker heartbeats (the key's TTL is ~120 s)."""
SUSPENSION_CHECK_EVERY_S = 1.0
"""Shortest interval between two reads of RQ's suspension flag."""


class StartedJob(Job):
    """RQ 2.12's Job, whose ``perform`` leaves out RQ's PERSIST of the job's key when the
    worker's start pipeline carried it (``persisted``); everything else is RQ's."""

    persisted = False
    """The job's key was made persistent in the pipeline that marked the job started."""

    def perform(self) -> Any:
        """RQ's ``perform`` (the job on RQ's current-job stack while its function runs),
        without the PERSIST round trip when ``persisted``."""
        if not self.persisted:
            return super().perform()
        self.persisted = False
        _job_stack.push(self)
        try:
            self._result = self._execute()
        finally:
            assert self is _job_stack.pop()
        return self._result


class LeanBookkeeping:
    """Mixin for an RQ worker class: heartbeats at most every ``HEARTBEAT_EVERY_S``, state
    written only when it changes, suspension read at most every ``SUSPENSION_CHECK_EVERY_S``,
    no heartbeat at a job's end unless it has a callback.
    """

    job_class = StartedJob
    """The class of the jobs the worker dequeues (RQ's ``job_class``)."""

    _last_beat = -float("inf")
    _next_suspension_check = -float("inf")

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, except a standalone one with the default TTL that comes less
        than ``HEARTBEAT_EVERY_S`` after the previous default-TTL one. A heartbeat with
        another TTL (RQ's job pipelines give the key the job's TTL) makes the next
        standalone one go out, so the key is back at ``worker_ttl + 60`` after each job,
        as with RQ's own worker."""
        default = timeout is None or timeout == self.worker_ttl + 60  # type: ignore[attr-defined]
        if not default:
            self._last_beat = -float("inf")
        elif pipeline is None:
            now = time.monotonic()
            if now - self._last_beat < HEARTBEAT_EVERY_S:
                return
            self._last_beat = now
        else:  # sent with the caller's pipeline, in a moment
            self._last_beat = time.monotonic()
        if pipeline is None:  # RQ sends HSET and EXPIRE one by one: one round trip here
            pipeline = self.connection.pipeline(transaction=False)  # type: ignore[attr-defined]
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            pipeline.execute()
            return
        super().heartbeat(timeout, pipeline)  # type: ignore[misc]

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's set_state, except a standalone write of the state already written."""
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's suspension check, at most every ``SUSPENSION_CHECK_EVERY_S``."""
        now = time.monotonic()
        if now < self._next_suspension_check:
            return
        self._next_suspension_check = now + SUSPENSION_CHECK_EVERY_S
        super().check_for_suspension(burst)  # type: ignore[misc]

    def handle_execution_ended(self, job: Any, queue: Any, heartbeat_ttl: int) -> None:
        """RQ's end of a job's execution; the job's heartbeat only when a callback runs."""
        if job._success_callback_name or job._failure_callback_name:
            super().handle_execution_ended(job, queue, heartbeat_ttl)  # type: ignore[misc]
        else:
            job.ended_at = rq_now()

    _start: tuple[str, Any, int] | None = None
    """(job id, pipeline, heartbeat TTL): ``prepare_execution``'s commands, sent with the
    job's ``prepare_job_execution``, and the TTL both use."""

    def prepare_execution(self, job: Any) -> Any:
        """RQ 2.12's ``prepare_execution`` (the job's Execution record, state ``busy``); for
        an execution's job its commands wait for ``prepare_job_execution``'s pipeline, which
        RQ sends right after (one round trip at a job's start instead of two)."""
        if not job.id.startswith(RQ_JOB_PREFIX):
            return super().prepare_execution(job)  # type: ignore[misc]
        pipeline = self.connection.pipeline()  # type: ignore[attr-defined]
        ttl = self.get_heartbeat_ttl(job)  # type: ignore[attr-defined]
        self.execution = Execution.create(job, ttl, pipeline=pipeline,
                                          worker_name=self.name)  # type: ignore[attr-defined]
        self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        self._start = (job.id, pipeline, ttl)
        return self.execution

    def prepare_job_execution(self, job: Any, remove_from_intermediate_queue: bool = False,
                              ) -> None:
        """RQ 2.12's ``prepare_job_execution`` (current job, heartbeats with the job's TTL,
        the job marked started), in the pipeline ``prepare_execution`` left for this job and
        with the TTL it computed, and the PERSIST of the job's key that ``Job.perform``
        would send next (see :class:`StartedJob`)."""
        start, self._start = self._start, None
        if start is None or start[0] != job.id:
            super().prepare_job_execution(job, remove_from_intermediate_queue)  # type: ignore[misc]
            return
        _, pipe, ttl = start
        persist = isinstance(job, StartedJob)  # else RQ's perform sends its own PERSIST
        with pipe as pipeline:
            self.set_current_job_id(job.id, pipeline=pipeline)  # type: ignore[attr-defined]
            self.set_current_job_working_time(0, pipeline=pipeline)  # type: ignore[attr-defined]
            self.heartbeat(ttl, pipeline=pipeline)
            job.heartbeat(rq_now(), ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)  # type: ignore[attr-defined]
            if remove_from_intermediate_queue:
                queue = Queue(job.origin, connection=self.connection)  # type: ignore[attr-defined]
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            if persist:
                pipeline.persist(job.key)
            pipeline.execute()
            if persist:
                job.persisted = True
        self.procline(f"Processing {job.func_name} from {job.origin} "  # type: ignore[attr-defined]
                      f"since {time.time()}")

    _idle_written = False
    """The success pipeline wrote the ``idle`` state of the job ``perform_job`` ran."""

    def perform_job(self, job: Any, queue: Any) -> bool:
        """RQ's ``perform_job``, the Redis steps of finishes on this worker's connection held
        for the success pipeline (sent when it ends if none took them). Once it returns,
        the state is ``idle`` if the success pipeline wrote it (RQ's next write skipped)."""
        self._idle_written = False
        with held_steps(self.connection):  # type: ignore[attr-defined]
            performed = super().perform_job(job, queue)  # type: ignore[misc]
        if self._idle_written:
            self._state = WorkerStatus.IDLE
        return performed

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any) -> None:
        """RQ 2.12's ``handle_job_success`` without the dependents' WATCH and read for an
        agentic execution's job (see the module docstring); other jobs go RQ's way. The
        success pipeline itself is RQ's, in one MULTI/EXEC: counters, result, job TTL,
        execution cleanup (``tests/integration/queue/test_lean_bookkeeping.py`` compares the
        Redis keys both leave), after the held Redis step of the job's finish."""
        if not job.id.startswith(RQ_JOB_PREFIX) or job.repeats_left:
            super().handle_job_success(job, queue, started_job_registry)  # type: ignore[misc]
            return
        with self.connection.pipeline() as pipeline:  # type: ignore[attr-defined]
            settle = join(pipeline)  # the finish's Redis step, first in the transaction
            self.increment_successful_job_count(pipeline=pipeline)  # type: ignore[attr-defined]
            self.increment_total_working_time(  # type: ignore[attr-defined]
                job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)  # type: ignore[attr-defined]
            if result_ttl != 0:
                execution = self.execution  # type: ignore[attr-defined]
                job._handle_success(
                    result_ttl, pipeline=pipeline, worker_name=self.name,  # type: ignore[attr-defined]
                    execution_id=execution.id if execution else None,
                    execution_started_at=execution.created_at if execution else None,
                    execution_ended_at=job.ended_at)
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)  # type: ignore[attr-defined]
            # what the worker writes next, on its own, once the job is done: its idle state
            # and a heartbeat giving its key the worker TTL back (both skipped then). The
            # state attribute stays busy until perform_job returns: a stop signal until
            # then is a warm one, as with RQ's own worker.
            pipeline.hset(self.key, "state", WorkerStatus.IDLE)  # type: ignore[attr-defined]
            self.heartbeat(pipeline=pipeline)
            settle(pipeline.execute(raise_on_error=False))
            self._idle_written = True
        self.log.info("Successfully completed job %s in %ss on worker %s",  # type: ignore[attr-defined]
                      job.id, job.ended_at - job.started_at, self.name)  # type: ignore[attr-defined]
