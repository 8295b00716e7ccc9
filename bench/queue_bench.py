"""Queue benchmark: plain RQ no-op jobs vs agentic no-op workflow executions (full path).

Same Redis, same RQ worker class (``--worker-class simple|fork``). Plain RQ runs on stock
``rq worker`` processes (rq's own SimpleWorker or Worker, queue ``plain-bench``); ours on
``python -m agentic_app.engine.runtime.worker --processes N`` (our subclasses, whose
SimpleWorker also sends fewer bookkeeping round trips: engine/runtime/bookkeeping.py). Both
pools run through the whole run; each idles on its own queue while the other is measured.
Prints a table, then as the last line one JSON object (see the issue's Measure section).
``--quick`` finishes within a minute.

Ours = enqueue_execution (DB rows + limit checks + slot gate + RQ push) -> worker ->
run_execution (claim, executor with one ``delay 0`` node, events stored and published,
finish). For the throughput and latency rounds the per-user limits are raised (LIMITS
override: the slot gate and the caps are still checked for every job, they never bind);
then one more set of rounds runs with the real per-user cap of 10 binding (4 users, so most
jobs wait for a slot and each finish hands its slot to the user's next waiting job), and
the concurrency run (``--more``) uses 3 users at the real cap of 10.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_REDIS_DB = 13
"""Redis logical database the benchmark flushes and uses."""
ROUNDS = 3
"""Throughput rounds per worker count (plain, ours, plain, ours, ...); medians reported."""


def _redis_url() -> str:
    from agentic_app.engine.runtime.local_redis import find_redis

    base = find_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), REPO / ".data")
    if base is None:
        sys.exit("no Redis answers")
    return base.rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}" if base.startswith("redis") else base


POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
"""PostgreSQL server the benchmark makes its own database on (dropped at the end)."""


def _db(tmp: Path, kind: str, async_commit: bool = False) -> str:
    """A migrated database of ``kind`` (``sqlite`` or ``postgresql``); ``async_commit``:
    the PostgreSQL database commits without waiting for the WAL flush (to show what the
    flushes cost; never a setting of the app)."""
    from agentic_app.db.migrate import upgrade_to_head

    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        import sqlalchemy as sa

        name = f"queue_bench_{os.getpid()}"
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            if async_commit:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        admin.dispose()
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade_to_head(url, tmp)
    return url


def _drop_db(url: str) -> None:
    """Drop the benchmark's PostgreSQL database (nothing for SQLite)."""
    if not url.startswith("postgresql"):
        return
    import sqlalchemy as sa

    from agentic_app.db.engine import get_engine

    get_engine(url).dispose()
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


PLAIN_QUEUE = "plain-bench"
"""Queue of the plain RQ jobs (only the stock workers listen on it)."""
STOCK_CLASSES = {"simple": "rq.worker.SimpleWorker", "fork": "rq.worker.Worker"}
"""rq's own worker classes, by ``--worker-class``."""


class Workers:
    """A fork pool of agentic workers in a subprocess or, with ``plain``, ``n`` stock
    ``rq worker`` processes on :data:`PLAIN_QUEUE`."""

    def __init__(self, n: int, cls: str, env: dict[str, str], plain: bool = False):
        from rq import Worker

        from agentic_app.engine.redis_conn import connect

        conn = connect(env["REDIS_URL"])
        before = {w.name for w in Worker.all(connection=conn)}
        if plain:
            argv = [[sys.executable, "-m", "rq.cli", "worker", "-u", env["REDIS_URL"],
                     "--worker-class", STOCK_CLASSES[cls], "--serializer",
                     "rq.serializers.JSONSerializer", PLAIN_QUEUE]] * n
        else:
            argv = [[sys.executable, "-m", "agentic_app.engine.runtime.worker",
                     "--processes", str(n), "--worker-class", cls]]
        self.procs = [subprocess.Popen(
            a, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True) for a in argv]
        # wait for this pool's own n workers (a stopping pool's may still be registered)
        deadline = time.monotonic() + 60
        while len({w.name for w in Worker.all(connection=conn)} - before) < n:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"{'plain' if plain else 'agentic'} workers did not start")
            time.sleep(0.1)
        time.sleep(0.5)  # let the pool's start-up work settle before measuring

    def stop(self) -> None:
        """SIGTERM each process group and wait; SIGKILL the groups still there after 15 s."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def plain_run(conn, n: int, pace_s: float | None) -> tuple[float, list[float]]:
    """Enqueue n plain RQ no-op jobs; returns (jobs/s, enqueue->start latencies in ms)."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    q = Queue(PLAIN_QUEUE, connection=conn, serializer=JSONSerializer)
    t0 = time.time()
    sent: list[tuple[str, float]] = []
    for _ in range(n):
        ts = time.time()
        job = q.enqueue_call("os.getpid", result_ttl=600)
        sent.append((job.id, ts))
        if pace_s:
            time.sleep(pace_s)
    ids = [i for i, _ in sent]
    left = list(ids)
    while left:  # a cheap poll (the poller shares the 2 cores with the workers)
        pipe = conn.pipeline(transaction=False)
        for i in left:  # only the jobs not yet seen finished
            pipe.hget(f"rq:job:{i}", "status")
        left = [i for i, s in zip(left, pipe.execute(), strict=True) if s != b"finished"]
        if left:
            time.sleep(0.05)
    from rq.utils import utcparse

    def stamp(i: str, field: str) -> float:
        return _ts(utcparse(conn.hget(f"rq:job:{i}", field).decode()))

    end = max(stamp(i, "ended_at") for i in ids)  # same clock as ours: the job's own end
    lat = [(stamp(i, "started_at") - ts) * 1000 for i, ts in sent]
    return n / (end - t0), lat


def ours_run(db: str, conn, settings, user_ids: list[int], wf_by_user: dict[int, int], n: int,
             pace_s: float | None) -> tuple[float, list[float]]:
    """Enqueue n agentic executions; returns (executions/s, enqueue->start latencies in ms)."""
    from sqlmodel import col, func, select

    from agentic_app.db.engine import Database, session_scope
    from agentic_app.db.models import JobQueueEntry
    from agentic_app.engine.queue.enqueue import enqueue_execution

    database = Database(db)
    t0 = time.time()
    sent: list[tuple[int, float]] = []
    for i in range(n):
        uid = user_ids[i % len(user_ids)]
        ts = time.time()
        job = enqueue_execution(db=database, redis=conn, workflow_id=wf_by_user[uid],
                                user_id=uid, settings=settings)
        sent.append((job.id, ts))
        if pace_s:
            time.sleep(pace_s)
    ids = [i for i, _ in sent]
    # a cheap poll (the poller shares the 2 cores with the workers and the database): a
    # primary-key range, since only this run enqueues (an IN list of every id cost
    # PostgreSQL ~17 ms per poll for 600 ids, a third of a core taken from the system
    # under test)
    assert ids == list(range(ids[0], ids[0] + len(ids))), "job ids not contiguous"
    in_run = col(JobQueueEntry.id).between(ids[0], ids[-1])
    while True:
        with session_scope(db) as s:
            done = s.exec(select(func.count()).select_from(JobQueueEntry).where(
                in_run, JobQueueEntry.status == "completed")).one()
        if done == len(ids):
            break
        time.sleep(0.05)
    with session_scope(db) as s:
        rows = s.exec(select(JobQueueEntry).where(col(JobQueueEntry.id).in_(ids))).all()
    by_id = {r.id: r for r in rows}
    end = max(r.completed_at.timestamp() for r in rows)
    lat = [(by_id[i].started_at.timestamp() - ts) * 1000 for i, ts in sent]
    return n / (end - t0), lat


def _ts(dt) -> float:
    """Epoch seconds of an RQ timestamp (naive values are UTC)."""
    from datetime import UTC

    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def max_concurrency(db: str, conn, settings, env: dict[str, str], cls: str) -> int:
    """Run 30 I/O-bound executions (3 users x 10, 3 s each) on 30 workers; peak running."""
    from sqlmodel import func, select

    from agentic_app.db.engine import Database, session_scope
    from agentic_app.db.models import JobQueueEntry
    from agentic_app.engine.queue.enqueue import enqueue_execution

    users = [_user(db, f"conc{i}") for i in range(3)]
    wfs = {u: _workflow(db, u, 3.0) for u in users}
    workers = Workers(30, cls, env)
    try:
        database = Database(db)
        ids = [enqueue_execution(db=database, redis=conn, workflow_id=wfs[u], user_id=u,
                                 settings=settings).id for u in users for _ in range(10)]
        peak, deadline = 0, time.monotonic() + 40
        while time.monotonic() < deadline:
            with session_scope(db) as s:
                running = s.exec(select(func.count()).select_from(JobQueueEntry).where(
                    JobQueueEntry.status == "running")).one()
                done = s.exec(select(func.count()).select_from(JobQueueEntry).where(
                    JobQueueEntry.status == "completed",
                    JobQueueEntry.id.in_(ids))).one()  # type: ignore[union-attr]
            peak = max(peak, running)
            if done == len(ids):
                break
            time.sleep(0.1)
        return peak
    finally:
        workers.stop()


def _user(db: str, name: str) -> int:
    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import User

    with session_scope(db) as s:
        u = User(username=name, password_hash="x")
        s.add(u)
        s.flush()
        return u.id


def _workflow(db: str, uid: int, seconds: float = 0.0) -> int:
    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import Workflow

    definition = {"nodes": [{"id": "noop", "type": "delay", "params": {"seconds": seconds}}]}
    with session_scope(db) as s:
        wf = Workflow(user_id=uid, name="noop", definition=definition)
        s.add(wf)
        s.flush()
        return wf.id


def run_database(kind: str, args: argparse.Namespace, conn, redis_url: str,
                 n_tp: int, n_lat: int, pace: float) -> dict:
    """Throughput rounds (1 worker; also 2 with ``--more``) and the latency run on one
    database; the figures as a dict."""
    from agentic_app.settings import load_settings

    conn.flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    db = _db(tmp, kind, args.pg_async_commit)
    try:
        limits = {"max_executions_per_day": 1_000_000, "max_concurrent_per_user": 1_000}
        env = dict(os.environ, DATABASE_URL=db, REDIS_URL=redis_url, PYTHONPATH=str(REPO),
                   LIMITS=json.dumps(limits))
        settings = load_settings(DATABASE_URL=db, REDIS_URL=redis_url, LIMITS=limits)
        capped = {**limits, "max_concurrent_per_user": 10}
        capped_env = {**env, "LIMITS": json.dumps(capped)}
        capped_settings = load_settings(DATABASE_URL=db, REDIS_URL=redis_url, LIMITS=capped)
        users = [_user(db, f"bench{i}") for i in range(4)]
        wfs = {u: _workflow(db, u) for u in users}
        results: dict[str, dict] = {}
        for n_workers in ((1, 2) if args.more else (1,)):
            workers = Workers(n_workers, args.worker_class, env)
            try:
                stock = Workers(n_workers, args.worker_class, env, plain=True)
            except BaseException:
                workers.stop()
                raise
            try:
                plain_tps, ours_tps = [], []
                for _ in range(ROUNDS):  # interleaved, so a load swing hits both sides alike
                    plain_tps.append(plain_run(conn, n_tp, None)[0])
                    ours_tps.append(ours_run(db, conn, settings, users, wfs, n_tp, None)[0])
                lat = {}
                if n_workers == 1:
                    _, lat["lat_plain"] = plain_run(conn, n_lat, pace)
                    _, lat["lat_ours"] = ours_run(db, conn, settings, users, wfs, n_lat, pace)
            finally:
                workers.stop()
                stock.stop()
            results[str(n_workers)] = {"plain": statistics.median(plain_tps),
                                       "ours": statistics.median(ours_tps),
                                       "plain_rounds": plain_tps, "ours_rounds": ours_tps,
                                       **lat}
        workers = Workers(1, args.worker_class, capped_env)
        try:  # the per-user cap of 10 binding: 4 users, 150 jobs
            capped_tps = [ours_run(db, conn, capped_settings, users, wfs, n_tp, None)[0]
                          for _ in range(ROUNDS)]
        finally:
            workers.stop()
        results["capped"] = {"ours": statistics.median(capped_tps), "rounds": capped_tps}
        if args.more:
            results["peak"] = max_concurrency(db, conn, settings, env, args.worker_class)
        return results
    finally:
        _drop_db(db)


def _print_database(kind: str, results: dict) -> dict:
    """Print one database's table; its JSON figures."""
    one = results["1"]
    print(f"--- {kind}")
    print(f"{'':28}{'plain RQ':>12}{'agentic':>12}   (median of {ROUNDS} interleaved rounds)")
    for w in [w for w in ("1", "2") if w in results]:
        print(f"{'throughput, ' + w + ' worker(s) /s':28}{results[w]['plain']:12.1f}"
              f"{results[w]['ours']:12.1f}   rounds: plain "
              + " ".join(f"{x:.0f}" for x in results[w]["plain_rounds"]) + ", agentic "
              + " ".join(f"{x:.0f}" for x in results[w]["ours_rounds"]))
    capped = results["capped"]
    print(f"{'  per-user cap 10 binding':28}{'':12}{capped['ours']:12.1f}   rounds: agentic "
          + " ".join(f"{x:.0f}" for x in capped["rounds"]))
    for name, p in (("p50", 50), ("p99", 99)):
        print(f"{'enqueue->start ' + name + ' ms':28}{pct(one['lat_plain'], p):12.2f}"
              f"{pct(one['lat_ours'], p):12.2f}")
    if "peak" in results:
        print(f"max concurrent executions (3 users x 10, 30 workers): {results['peak']}")
    out = {
        "plain_rq_jobs_per_s": round(one["plain"], 1),
        "ours_jobs_per_s": round(one["ours"], 1),
        "throughput_ratio": round(one["ours"] / one["plain"], 3),
        "plain_rq_p50_ms": round(pct(one["lat_plain"], 50), 2),
        "ours_p50_ms": round(pct(one["lat_ours"], 50), 2),
        "p50_over_plain_ms": round(pct(one["lat_ours"], 50) - pct(one["lat_plain"], 50), 2),
        "ours_p99_ms": round(pct(one["lat_ours"], 99), 2),
        "ours_jobs_per_s_cap_binding": round(capped["ours"], 1),
        "throughput_ratio_cap_binding": round(capped["ours"] / one["plain"], 3),
    }
    if "2" in results:
        out["plain_rq_jobs_per_s_2_workers"] = round(results["2"]["plain"], 1)
        out["ours_jobs_per_s_2_workers"] = round(results["2"]["ours"], 1)
    if "peak" in results:
        out["max_concurrent_executions"] = results["peak"]
    return out


def main() -> None:
    """Run the benchmark on each database and print the tables, the ratios against the
    goals, and the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker-class", choices=("simple", "fork"), default="simple")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-async-commit", action="store_true",
                        help="PostgreSQL database with synchronous_commit = off (diagnosis)")
    parser.add_argument("--more", action="store_true",
                        help="also 2 workers and the 30-at-once concurrency run")
    args = parser.parse_args()
    n_tp, n_lat, pace = (150, 40, 0.05) if args.quick else (600, 200, 0.05)
    if args.quick and args.worker_class == "fork":
        n_tp = 100  # a fork per job is ~4x slower: keeps --quick within a minute
    from agentic_app.engine.redis_conn import connect

    redis_url = _redis_url()
    conn = connect(redis_url)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    figures = {kind: run_database(kind, args, conn, redis_url, n_tp, n_lat, pace)
               for kind in kinds}
    print(f"worker class: {args.worker_class}   (same Redis; plain RQ on stock rq workers)")
    out = {kind: _print_database(kind, results) for kind, results in figures.items()}
    print("goals: throughput ratio >= 0.6, enqueue->start p50 <= plain RQ + 3 ms")
    for kind, f in out.items():
        print(f"{kind:12} ratio {f['throughput_ratio']:.2f}   p50 {f['ours_p50_ms']:.1f} ms vs "
              f"plain {f['plain_rq_p50_ms']:.1f} ms ({f['p50_over_plain_ms']:+.1f} ms)   "
              f"ratio with the per-user cap binding {f['throughput_ratio_cap_binding']:.2f}")
    print(json.dumps({"worker_class": args.worker_class, "load_average": os.getloadavg(),
                      "pg_async_commit": args.pg_async_commit,
                      **out}))


if __name__ == "__main__":
    main()
