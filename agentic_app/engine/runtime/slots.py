"""A worker process that runs up to N executions at once: ``worker --slots N``.

An execution waiting on market data, a broker or a delay node spends its time in ``await``;
a work-horse or a worker process per execution holds ~50 MB for that wait. A
:class:`SlotsWorker` is RQ's SimpleWorker (RQ's own dequeue, job bookkeeping, registries,
heartbeats, ``rq info``) whose ``execute_job`` hands each job to a bounded thread pool of
``slots`` threads; each thread runs RQ's ``perform_job`` for that job, and so
:func:`~agentic_app.engine.runtime.tasks.run_execution` with its own asyncio loop. The
worker dequeues the next job only while a slot is free, so a full worker leaves jobs on the
queue for the other workers. RQ itself runs one job per worker process (its docs: "start more
workers"); its multithread worker (rq/rq PR #1803, same design: dequeue while a pool slot is
free, TimerDeathPenalty) was closed unmerged, so this subclass stays small on RQ's API. The
slot count is ``--slots N`` or the ``WORKER_SLOTS`` setting (default 1: the forking worker).

What still holds per execution (each is per attempt in ``run_execution``, unchanged):

* timeout - the executor's ``execution_timeout_s`` (asyncio, per execution); RQ's job timeout
  backstop uses :class:`rq.timeouts.TimerDeathPenalty` (a timer per job raising in that
  job's thread) since signals only reach the main thread;
* cancel - the process's one watcher thread polls every running attempt's flag (one MGET);
* heartbeats - the same watcher thread writes each attempt's DB heartbeat, so a worker killed
  with SIGKILL stops them all and the maintenance sweep retries every in-flight attempt of it
  (``STALE_AFTER_S``);
* per-user limits - enforced when jobs are dispatched (engine/queue), not by workers.

Memory is accounted per process: the executor's RSS guard of each execution measures the
process's growth since that execution started, so one execution's allocation counts against
every execution running beside it (``memory_limit_mb`` is then a per-process growth cap
seen by all of them), and no ``RLIMIT_AS`` cap is applied (it would cap the whole process).
Use the forking worker (``--slots 1``, the default) for memory-hungry CPU-bound workflows.
"""

from __future__ import annotations

import copy
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)

SLOT_WAIT_S = 1.0
"""While every slot is busy, the worker wakes this often (RQ heartbeat, stop requests)."""


class SlotsWorker(SimpleWorker):
    """SimpleWorker running up to ``slots`` jobs at once in a bounded thread pool."""

    death_penalty_class = TimerDeathPenalty
    slots: int = 1

    def _pool(self) -> ThreadPoolExecutor:
        pool = getattr(self, "_slot_pool", None)
        if pool is None:
            self._slot_free = threading.BoundedSemaphore(self.slots)
            self._slot_lock = threading.Lock()
            self._slot_running = 0
            pool = self._slot_pool = ThreadPoolExecutor(self.slots,
                                                        thread_name_prefix="slot")
        return pool

    @property
    def running(self) -> int:
        """Jobs running in this worker now."""
        return getattr(self, "_slot_running", 0)

    def execute_job(self, job: Any, queue: Any) -> None:
        """Start ``job`` in a free slot; return once a slot is free again (or a stop is
        requested), so RQ's loop dequeues only what this worker can start at once."""
        pool = self._pool()
        self._slot_free.acquire()
        with self._slot_lock:
            self._slot_running += 1
        # RQ keeps the current Execution on the worker object: each job gets its own copy
        job_worker = copy.copy(self)
        try:
            job_worker.prepare_execution(job)
            pool.submit(self._run_one, job_worker, job, queue)
        except Exception:
            self._release()
            raise
        while not self._slot_free.acquire(timeout=SLOT_WAIT_S):
            if getattr(self, "_stop_requested", False):
                return
            try:
                self.heartbeat()
            except Exception as exc:  # Redis trouble: the job threads carry on
                log.warning("worker heartbeat failed: %s", exc)
        self._slot_free.release()

    def _run_one(self, job_worker: SimpleWorker, job: Any, queue: Any) -> None:
        try:
            job_worker.perform_job(job, queue)
        except Exception:
            log.exception("slot: job %s crashed outside RQ's handling", job.id)
        finally:
            self._release()

    def _release(self) -> None:
        with self._slot_lock:
            self._slot_running -= 1
        self._slot_free.release()

    def teardown(self) -> None:
        """Wait for the jobs still running (burst end or warm stop), then RQ's teardown
        (the worker stays registered while they finish)."""
        pool = getattr(self, "_slot_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
            self._slot_pool = None
        super().teardown()
