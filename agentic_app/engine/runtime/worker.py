"""RQ workers: ``python -m agentic_app worker [--processes N]`` or
``python -m agentic_app.engine.runtime.worker [--processes N] [--worker-class fork|simple]``.

* :class:`AgenticWorker` - RQ's forking Worker; each job runs in a fresh work-horse that first
  drops inherited DB connections and caps its address space at ``LIMITS.memory_limit_mb``
  (:func:`apply_address_space_limit`), so one execution cannot exhaust the machine and a
  MemoryError there leaves the worker unharmed. :class:`AgenticSimpleWorker` runs jobs in the
  worker process itself (no fork: lighter and faster; memory is only watched by the
  executor's RSS guard).
* Both listen on the agentic queues high -> normal -> low with RQ's JSON serializer, and
  appear in ``rq info`` under those queue names.
* Each worker process runs a :class:`~agentic_app.engine.queue.maintenance.MaintenanceThread`
  (due retries, crash/outage reconciliation).
* A Redis outage does not kill a worker: connection errors out of RQ's loop are caught and
  the worker re-registers once Redis answers again (new name, so no clash with its old key).
* ``--processes N``: :func:`run_pool` runs N workers under the Supervisor (separate
  interpreters, restarted when they exit); :func:`run_fork_pool` forks N workers from one
  warmed-up parent (fast start, used by tests and the benchmark), also restarting any that die.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import time

import redis as redis_lib
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer

from agentic_app.db.engine import Database
from agentic_app.engine.queue.names import QUEUE_NAMES
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime.supervisor import ChildSpec, Supervisor, python_module_argv
from agentic_app.settings import Settings, get_settings

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


class AgenticSimpleWorker(SimpleWorker):
    """Non-forking RQ worker (jobs run in the worker process)."""


WORKER_CLASSES: dict[str, type[Worker]] = {"fork": AgenticWorker, "simple": AgenticSimpleWorker}
"""``--worker-class`` choices."""


def _worker_name(base: str | None, generation: int) -> str:
    base = base or f"agentic-{socket.gethostname()}-{os.getpid()}"
    return base if generation == 0 else f"{base}.{generation}"


def run_worker(redis_url: str, *, burst: bool = False, name: str | None = None,
               worker_class: str = "fork", settings: Settings | None = None,
               maintenance: bool = True) -> bool:
    """Run one RQ worker in this process until stopped (or, with burst, until queues are empty).

    Survives Redis outages (retries every ``OUTAGE_RETRY_S``); runs the maintenance thread.
    """
    from agentic_app.engine.queue.maintenance import MaintenanceThread
    from agentic_app.engine.runtime.prefork import warm_up

    settings = settings or get_settings()
    cls = WORKER_CLASSES[worker_class]
    thread = None
    if maintenance:
        thread = MaintenanceThread(db=Database(settings.database_url), redis_url=redis_url,
                                   settings=settings)
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
        if thread is not None:
            thread.stop()


def run_pool(redis_url: str, processes: int, *, worker_class: str = "fork") -> None:
    """Run ``processes`` supervised worker interpreters until SIGTERM/SIGINT."""
    children = [
        ChildSpec(name=f"worker-{i}",
                  argv=python_module_argv("agentic_app.engine.runtime.worker",
                                          "--worker-class", worker_class),
                  env={"REDIS_URL": redis_url})
        for i in range(processes)
    ]
    Supervisor(children).run()


def run_fork_pool(redis_url: str, processes: int, *, worker_class: str = "fork",
                  settings: Settings | None = None) -> None:
    """Fork ``processes`` workers from this warmed-up process; restart any that die; on
    SIGTERM/SIGINT stop them all (SIGTERM, then SIGKILL after 10 s)."""
    from agentic_app.engine.runtime.clients import after_fork
    from agentic_app.engine.runtime.prefork import warm_up

    settings = settings or get_settings()
    warm_up()
    after_fork()  # the parent keeps no DB connection to share with children
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                run_worker(redis_url, worker_class=worker_class, settings=settings,
                           name=f"agentic-{socket.gethostname()}-{os.getpid()}")
            except BaseException:
                log.exception("worker %s crashed", index)
                code = 1
            os._exit(code)
        children[pid] = index

    def _stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for i in range(processes):
        spawn(i)
    while not stopping:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid and pid in children:
            index = children.pop(pid)
            log.warning("worker %s (pid %s) exited with %s; restarting", index, pid, status)
            spawn(index)
        time.sleep(0.2)
    for pid in children:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                children.pop(pid)
        time.sleep(0.1)
    for pid in children:
        _kill(pid, signal.SIGKILL)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def start_workers(redis_url: str, settings: Settings, *, processes: int = 1,
                  worker_class: str = "fork", pool: str = "fork", burst: bool = False) -> None:
    """Run one worker here, or ``processes`` of them as a fork pool or supervised pool."""
    if processes > 1 and pool == "fork":
        run_fork_pool(redis_url, processes, worker_class=worker_class, settings=settings)
    elif processes > 1:
        run_pool(redis_url, processes, worker_class=worker_class)
    else:
        run_worker(redis_url, burst=burst, worker_class=worker_class, settings=settings)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker options shared by both command lines."""
    parser.add_argument("--processes", type=int, default=1, help="number of worker processes")
    parser.add_argument("--worker-class", choices=sorted(WORKER_CLASSES), default="fork",
                        help="fork: a work-horse per job (memory limit); simple: in-process")
    parser.add_argument("--pool", choices=("fork", "supervised"), default="fork",
                        help="how --processes N workers are started")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m agentic_app.engine.runtime.worker``."""
    parser = argparse.ArgumentParser(prog="python -m agentic_app.engine.runtime.worker")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    start_workers(settings.redis_url, settings, processes=args.processes,
                  worker_class=args.worker_class, pool=args.pool, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
