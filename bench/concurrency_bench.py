"""Concurrency benchmark: 100 I/O-bound executions in flight at once (issue #18 item 5).

10 users x 11 executions of one ``delay`` node (2 s each; per-user cap 10, so at most 100
run at once and each user's 11th waits for a slot). Run in the same invocation against:

* ``slots``: ONE worker process, ``worker --slots 100`` (engine/runtime/slots.py);
* ``processes``: the process-per-execution mode, ``worker --processes 100`` (a fork pool of
  100 SimpleWorkers).

All 110 are submitted first, then the workers start. For each: wall time from the worker
launch to the last completion (start-up included, also shown alone), peak executions running
at once (DB), peak running per user, peak RSS sum of the worker processes (psutil,
the whole process tree, sampled every 0.2 s), and the load average. Prints a table, then
one JSON line. ``--mode slots`` runs one side only; ``--n`` changes the process count of
the processes side; ``--database-url`` runs on an empty PostgreSQL database instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.queue_bench import _db, _redis_url, _user, _workflow  # noqa: E402

USERS = 10
PER_USER = 11
DELAY_S = 2.0
MB = 1024 * 1024


WORKER_MODULE = "agentic_app.engine.runtime.worker"


def _tree_rss(pid: int) -> tuple[int, int]:
    """(RSS sum in bytes, number of processes) of ``pid``'s worker processes: the process and
    the descendants that run the worker module (a fork pool's children; not a short-lived
    helper such as the ``file`` command an import starts)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    total = count = 0
    for p in procs:
        try:
            if p is root or WORKER_MODULE in " ".join(p.cmdline()):
                total += p.memory_info().rss
                count += 1
        except psutil.NoSuchProcess:
            pass
    return total, count


def _launch(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", WORKER_MODULE, *args],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def run_mode(mode: str, n_procs: int, db: str, conn, settings, env: dict[str, str]) -> dict:
    """Start the workers of ``mode``, run the 110 executions, measure, stop the workers."""
    from rq import Worker
    from sqlmodel import func, select

    from agentic_app.db.engine import Database, session_scope
    from agentic_app.db.models import JobQueueEntry
    from agentic_app.engine.queue.enqueue import enqueue_execution

    conn.flushdb()
    users = [_user(db, f"{mode}{i}") for i in range(USERS)]
    wfs = {u: _workflow(db, u, DELAY_S) for u in users}
    database = Database(db)
    load_before = os.getloadavg()
    # all 110 are submitted first (2 s waits would end before a slow enqueue finished), then
    # the workers start and take the 100 dispatched jobs at once
    t0 = time.monotonic()
    ids = [enqueue_execution(db=database, redis=conn, workflow_id=wfs[u], user_id=u,
                             settings=settings).id for _ in range(PER_USER) for u in users]
    enqueue_s = time.monotonic() - t0
    argv = (["--slots", "100", "--worker-class", "simple"] if mode == "slots"
            else ["--processes", str(n_procs), "--worker-class", "simple"])
    expect = 1 if mode == "slots" else n_procs
    started = time.monotonic()
    proc = _launch(argv, env)
    startup_s = None  # until every worker is registered; sampled from the launch on, since
    # a fork pool's first workers run executions while the last ones are still starting
    n_worker_procs = 1
    peak_running = peak_user = peak_rss = 0
    done = 0
    deadline = started + 180
    try:
        while time.monotonic() < deadline:
            if startup_s is None and len(Worker.all(connection=conn)) >= expect:
                startup_s = time.monotonic() - started
            rss, n_tree = _tree_rss(proc.pid)
            peak_rss, n_worker_procs = max(peak_rss, rss), max(n_worker_procs, n_tree)
            with session_scope(db) as s:
                rows = s.exec(select(JobQueueEntry.user_id, func.count()).where(
                    JobQueueEntry.status == "running",
                    JobQueueEntry.id.in_(ids)).group_by(JobQueueEntry.user_id)).all()  # type: ignore[union-attr]
                done = s.exec(select(func.count()).select_from(JobQueueEntry).where(
                    JobQueueEntry.status == "completed",
                    JobQueueEntry.id.in_(ids))).one()  # type: ignore[union-attr]
            peak_running = max(peak_running, sum(c for _, c in rows))
            peak_user = max([peak_user, *(c for _, c in rows)])
            if done == len(ids):
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"mode": mode, "worker_processes": n_worker_procs, "executions": len(ids),
            "completed": done, "wall_s": round(wall, 2), "enqueue_s": round(enqueue_s, 2),
            "startup_s": None if startup_s is None else round(startup_s, 2),
            "peak_running": peak_running, "peak_running_per_user": peak_user,
            "peak_rss_mb": round(peak_rss / MB, 1),
            "peak_rss_per_process_mb": round(peak_rss / MB / n_worker_procs, 1),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    """Run both modes (or one) and print the table and the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("both", "slots", "processes"), default="both")
    parser.add_argument("--n", type=int, default=100, help="processes of the processes mode")
    parser.add_argument("--database-url", default=None,
                        help="an empty database to migrate and use (default: a new SQLite)")
    args = parser.parse_args()
    from agentic_app.engine.redis_conn import connect
    from agentic_app.settings import load_settings

    redis_url = _redis_url()
    conn = connect(redis_url)
    tmp = Path(tempfile.mkdtemp(prefix="concurrency-bench-"))
    if args.database_url:
        from agentic_app.db.migrate import upgrade_to_head

        db = args.database_url
        upgrade_to_head(db, tmp)
    else:
        db = _db(tmp, "sqlite")
    limits = {"max_concurrent_per_user": 10, "max_executions_per_day": 100}
    env = dict(os.environ, DATABASE_URL=db, REDIS_URL=redis_url, PYTHONPATH=str(REPO),
               LIMITS=json.dumps(limits))
    settings = load_settings(DATABASE_URL=db, REDIS_URL=redis_url, LIMITS=limits)
    modes = ("slots", "processes") if args.mode == "both" else (args.mode,)
    results = [run_mode(m, args.n, db, conn, settings, env) for m in modes]
    print(f"{'mode':10} {'procs':>5} {'done':>8} {'wall s':>7} {'start s':>7} {'peak run':>8} "
          f"{'per user':>8} {'peak MB':>8}  load 1m before/after")
    for r in results:
        print(f"{r['mode']:10} {r['worker_processes']:5d} {r['completed']:4d}/{r['executions']:<3d}"
              f" {r['wall_s']:7.2f} {r['startup_s'] or '-':>7} {r['peak_running']:8d}"
              f" {r['peak_running_per_user']:8d} {r['peak_rss_mb']:8.1f}  "
              f"{r['load_before'][0]:.2f}/{r['load_after'][0]:.2f}")
    print(json.dumps({"cpus": os.cpu_count(), "results": results}))


if __name__ == "__main__":
    main()
