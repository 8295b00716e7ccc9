"""RQ workers: ``python -m agentic_app worker [--processes N]`` or
``python -m agentic_app.engine.runtime.worker [--processes N] [--worker-class fork|simple]``.

* :class:`AgenticWorker` - RQ's forking Worker; each job runs in a fresh work-horse that first
  drops inherited DB connections and caps its address space at ``LIMITS.memory_limit_mb``
  (:func:`apply_address_space_limit`), so one execution cannot exhaust the machine and a
  MemoryError there leaves the worker unharmed. :class:`AgenticSimpleWorker` runs jobs in the
  worker process itself (no fork: lighter and faster; memory is only watched by the
  executor's RSS guard).
* ``--slots N`` (N > 1): :class:`~agentic_app.engine.runtime.slots.SlotsWorker` runs up to N
  executions at once in one process (threads; for I/O-bound workflows).
* Both listen on the agentic queues high -> normal -> low with RQ's JSON serializer, and
  appear in ``rq info`` under those queue names.
* Each worker process runs a :class:`~agentic_app.engine.queue.maintenance.MaintenanceThread`
  (due retries, crash/outage reconciliation) and an
  :class:`~agentic_app.engine.alerts.sweep.AlertSweepThread` (alert retries and storm summaries).
* A Redis outage does not kill a worker: connection errors out of RQ's loop are caught and
  the worker re-registers once Redis answers again (new name, so no clash with its old key).
* ``--processes N``: :func:`run_fork_pool` (default) forks N workers from one warmed-up parent
  (primed before fork, see ``prefork``) with rq's ``WorkerPool``, which reaps and respawns them
  and stops them on SIGTERM/SIGINT; ``--pool supervised``: :func:`run_pool` runs N separate
  interpreters under the Supervisor.

WorkerPool replaced a hand-written fork/waitpid loop that did the same. Measured with
``bench/queue_bench.py --quick`` (agentic executions/s with 1 worker; ratio to plain RQ), the
two run back to back on the shared 2-core VM, alternating which went first: quiet rounds (load
< 3) SimpleWorker WorkerPool 80.5 / 69.6 / 64.2 / 68.1 (ratio 0.43 / 0.66 / 0.58 / 0.56) vs
hand-written 61.1 / 67.2 / 55.0 / 58.1 (0.29 / 0.59 / 0.52 / 0.53); forking Worker 21.1 (0.62)
vs 20.9 (0.56). Five rounds under load 5-14: medians 41.1 vs 33.8 (simple), 10.0 vs 11.7 (fork).
Each worker runs the very same :func:`run_worker` loop either way, so the figures differ only
by noise; WorkerPool was kept as the library code. Its costs: respawn and stop are checked
once a second (the old loop: every 0.2 s), and a stop takes ~1-2 s instead of ~0.7 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing import get_context
from multiprocessing.process import BaseProcess

import redis as redis_lib
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from agentic_app.db.engine import Database
from agentic_app.engine.queue.names import QUEUE_NAMES
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime.bookkeeping import LeanBookkeeping
from agentic_app.engine.runtime.supervisor import ChildSpec, Supervisor, python_module_argv
from agentic_app.settings import MAX_WORKER_SLOTS, Settings, get_settings

log = logging.getLogger(__name__)

WORKER_TTL_S = 60
"""RQ worker key TTL: a dead worker disappears from ``rq info`` within this."""
JOB_MONITORING_INTERVAL_S = 5
"""How often a forking worker wakes up while its horse runs (heartbeat, stop commands)."""
OUTAGE_RETRY_S = 1.0
"""Pause before a worker retries after losing Redis."""


class AgenticWorker(Worker):
    """Forking RQ worker whose work-horse gets a fresh DB pool and an address-space cap."""

    memory_limit_mb: float | None = None
    redis_url: str | None = None
    """URL of ``connection``; a horse's tasks reuse the client for that URL."""

    def main_work_horse(self, job, queue):  # type: ignore[override]
        """Entry of the forked horse: prepare the process, then RQ's usual job handling."""
        from agentic_app.engine.executor.memory_guard import apply_address_space_limit
        from agentic_app.engine.runtime.clients import after_fork

        try:
            after_fork(redis=self.connection, redis_url=self.redis_url)
            if self.memory_limit_mb:
                apply_address_space_limit(self.memory_limit_mb)
        except Exception:  # never lose the job over the preparation
            log.exception("work-horse preparation failed")
        return super().main_work_horse(job, queue)


class AgenticSimpleWorker(LeanBookkeeping, SimpleWorker):
    """Non-forking RQ worker (jobs run in the worker process), with fewer Redis round trips
    for RQ's own bookkeeping (see :mod:`~agentic_app.engine.runtime.bookkeeping`)."""


WORKER_CLASSES: dict[str, type[Worker]] = {"fork": AgenticWorker, "simple": AgenticSimpleWorker}
"""``--worker-class`` choices."""


def _worker_name(base: str | None, generation: int) -> str:
    base = base or f"agentic-{socket.gethostname()}-{os.getpid()}"
    return base if generation == 0 else f"{base}.{generation}"


def run_worker(redis_url: str, *, burst: bool = False, name: str | None = None,
               worker_class: str = "fork", settings: Settings | None = None,
               maintenance: bool = True, slots: int = 1) -> bool:
    """Run one RQ worker in this process until stopped (or, with burst, until queues are empty).

    Survives Redis outages (retries every ``OUTAGE_RETRY_S``); runs the maintenance thread.
    ``slots`` > 1: a :class:`~agentic_app.engine.runtime.slots.SlotsWorker` running that many
    executions at once in this process (``worker_class`` is then ignored).
    """
    from agentic_app.engine.queue.maintenance import MaintenanceThread
    from agentic_app.engine.runtime.prefork import warm_up

    settings = settings or get_settings()
    cls = WORKER_CLASSES[worker_class]
    if slots > 1:
        from agentic_app.engine.runtime.slots import SlotsWorker

        cls = type("AgenticSlotsWorker", (SlotsWorker,), {"slots": slots})
    threads: list = []
    if maintenance:
        from agentic_app.engine.alerts.sweep import AlertSweepThread

        db = Database(settings.database_url)
        threads = [MaintenanceThread(db=db, redis_url=redis_url, settings=settings),
                   AlertSweepThread(db=db, redis_url=redis_url, settings=settings)]
        for thread in threads:
            thread.start()
    warm_up()
    generation = 0
    try:
        while True:
            try:
                conn = connect(redis_url)
                worker = cls(list(QUEUE_NAMES), connection=conn, serializer=JSONSerializer,
                             name=_worker_name(name, generation), worker_ttl=WORKER_TTL_S,
                             job_monitoring_interval=JOB_MONITORING_INTERVAL_S)
                if isinstance(worker, AgenticWorker):
                    worker.memory_limit_mb = settings.limits.memory_limit_mb
                    worker.redis_url = redis_url
                return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
            except (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError) as exc:
                generation += 1
                log.warning("worker lost Redis (%s); retrying in %.1fs", exc, OUTAGE_RETRY_S)
                time.sleep(OUTAGE_RETRY_S)
    finally:
        for thread in threads:
            thread.stop()


def run_pool(redis_url: str, processes: int, *, worker_class: str = "fork",
             slots: int = 1) -> None:
    """Run ``processes`` supervised worker interpreters until SIGTERM/SIGINT."""
    children = [
        ChildSpec(name=f"worker-{i}",
                  argv=python_module_argv("agentic_app.engine.runtime.worker",
                                          "--worker-class", worker_class,
                                          "--slots", str(slots)),
                  env={"REDIS_URL": redis_url})
        for i in range(processes)
    ]
    Supervisor(children).run()


POOL_STOP_GRACE_S = 10.0
"""After SIGTERM/SIGINT, a pool SIGKILLs the workers still running after this long."""


class AgenticWorkerPool(WorkerPool):
    """rq's WorkerPool (forks, reaps and respawns the workers, stops them on SIGTERM/SIGINT)
    whose forked children run :func:`run_worker` - our worker class, names, TTLs, maintenance
    thread and Redis-outage loop - and which SIGKILLs what still runs ``POOL_STOP_GRACE_S``
    after a stop request."""

    def __init__(self, redis_url: str, processes: int, *, worker_class: str,
                 settings: Settings, slots: int = 1):
        super().__init__(list(QUEUE_NAMES), connection=connect(redis_url),
                         num_workers=processes, worker_class=WORKER_CLASSES[worker_class],
                         serializer=JSONSerializer)
        self.redis_url = redis_url
        self.agentic_worker_class = worker_class
        self.settings = settings
        self.slots = slots

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0,
                           logging_level: str = "INFO") -> BaseProcess:
        """A forked child running :func:`run_worker` (``name`` only keys RQ's bookkeeping)."""
        return get_context("fork").Process(
            target=_pool_child, args=(self.redis_url, self.agentic_worker_class, self.settings,
                                          self.slots),
            name=f"agentic worker {name}")

    def request_stop(self, signum=None, frame=None) -> None:
        """RQ's stop (SIGINT to every worker: warm shutdown), then SIGKILL after the grace."""
        super().request_stop(signum, frame)
        timer = threading.Timer(POOL_STOP_GRACE_S, self._kill_workers)
        timer.daemon = True
        timer.start()

    def _kill_workers(self) -> None:
        for data in list(self.worker_dict.values()):
            self.stop_worker(data, sig=signal.SIGKILL)


def _pool_child(redis_url: str, worker_class: str, settings: Settings, slots: int = 1) -> None:
    """Entry of a pool's forked worker: default signal handling until RQ installs its own."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    run_worker(redis_url, worker_class=worker_class, settings=settings, slots=slots,
               name=f"agentic-{socket.gethostname()}-{os.getpid()}")


def run_fork_pool(redis_url: str, processes: int, *, worker_class: str = "fork",
                  settings: Settings | None = None, slots: int = 1) -> None:
    """Fork ``processes`` workers from this warmed-up process (rq's WorkerPool); respawn any
    that die; on SIGTERM/SIGINT stop them all (SIGKILL after ``POOL_STOP_GRACE_S``)."""
    from agentic_app.engine.runtime.clients import after_fork
    from agentic_app.engine.runtime.prefork import warm_up

    settings = settings or get_settings()
    warm_up()
    after_fork()  # the parent keeps no DB connection to share with children
    AgenticWorkerPool(redis_url, processes, worker_class=worker_class,
                      settings=settings, slots=slots).start(logging_level="INFO")


def start_workers(redis_url: str, settings: Settings, *, processes: int = 1,
                  worker_class: str = "fork", pool: str = "fork", burst: bool = False,
                  slots: int = 1) -> None:
    """Run one worker here, or ``processes`` of them as a fork pool or supervised pool;
    each runs up to ``slots`` executions at once."""
    if processes > 1 and pool == "fork":
        run_fork_pool(redis_url, processes, worker_class=worker_class, settings=settings,
                      slots=slots)
    elif processes > 1:
        run_pool(redis_url, processes, worker_class=worker_class, slots=slots)
    else:
        run_worker(redis_url, burst=burst, worker_class=worker_class, settings=settings,
                   slots=slots)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker options shared by both command lines."""
    parser.add_argument("--processes", type=int, default=1, help="number of worker processes")
    parser.add_argument("--worker-class", choices=sorted(WORKER_CLASSES), default="fork",
                        help="fork: a work-horse per job (memory limit); simple: in-process")
    parser.add_argument("--pool", choices=("fork", "supervised"), default="fork",
                        help="how --processes N workers are started")
    parser.add_argument("--slots", type=_positive, default=None,
                        help="executions run at once per worker process (threads; > 1 for "
                             "I/O-bound workflows, see engine/runtime/slots.py); "
                             "default WORKER_SLOTS (1)")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKER_SLOTS:
        raise argparse.ArgumentTypeError(f"--slots must be 1..{MAX_WORKER_SLOTS}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m agentic_app.engine.runtime.worker``."""
    parser = argparse.ArgumentParser(prog="python -m agentic_app.engine.runtime.worker")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    start_workers(settings.redis_url, settings, processes=args.processes,
                  worker_class=args.worker_class, pool=args.pool, burst=args.burst,
                  slots=args.slots or settings.worker_slots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
