"""Enqueue latency: plain RQ's ``enqueue_call`` against our ``enqueue_execution`` (database
rows, limit checks, slot gate, RQ push), with Redis on loopback and behind a loopback relay
(``redis_proxy.py``: a stand-in for Redis on another host, ~0.3 ms more per round trip).

No worker runs: only the enqueue is timed, paced (5 ms apart), the first ``WARM_UP`` of each
run left out. Plain RQ's enqueue is one Redis round trip; ours adds the slot gate (one
EVALSHA), the database transaction and the push pipeline, so the relayed run shows what
each Redis round trip costs when Redis is on another host. Prints a table, then one JSON
line. ``--quick`` takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import queue_bench as qb  # noqa: E402  (the bench's database and Redis helpers)

WARM_UP = 100
"""Enqueues of each run not counted (connections, caches, statement compilation)."""
PACE_S = 0.005
"""Pause between two enqueues."""
PROXY_PORT = 6391
"""Loopback port of the relay."""


def _p50(times: list[float]) -> float:
    return round(statistics.median(times[WARM_UP:]), 3)


def _rtt_ms(conn) -> float:
    """Median PING round trip in ms over 200 pings."""
    times = []
    for _ in range(200):
        t = time.perf_counter()
        conn.ping()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


def _plain(conn, n: int) -> float:
    """p50 ms of plain RQ's enqueue of a no-op job."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(qb.PLAIN_QUEUE, connection=conn, serializer=JSONSerializer)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        queue.enqueue_call("os.getpid", result_ttl=600)
        times.append((time.perf_counter() - t) * 1000)
        time.sleep(PACE_S)
    return _p50(times)


def _ours(db: str, conn, redis_url: str, n: int) -> float:
    """p50 ms of ``enqueue_execution`` (limits raised so they never bind; still checked)."""
    from agentic_app.db.engine import Database
    from agentic_app.engine.queue.enqueue import enqueue_execution
    from agentic_app.settings import load_settings

    settings = load_settings(
        DATABASE_URL=db, REDIS_URL=redis_url,
        LIMITS={"max_executions_per_day": 1_000_000, "max_concurrent_per_user": 100_000},
        QUEUE_CONFIG={"max_queue_size": 100_000})
    uid = qb._user(db, f"enq{time.monotonic_ns()}")
    wf = qb._workflow(db, uid)
    database = Database(db)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        enqueue_execution(db=database, redis=conn, workflow_id=wf, user_id=uid,
                          settings=settings)
        times.append((time.perf_counter() - t) * 1000)
        time.sleep(PACE_S)
    database.engine.dispose()
    return _p50(times)


def main() -> None:
    """Both Redis paths x the chosen databases, ``--rounds`` alternating rounds each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    n = (WARM_UP + 150) if args.quick else (WARM_UP + 400)
    rounds = args.rounds or (2 if args.quick else 3)
    from agentic_app.engine.redis_conn import connect, redis_answers

    direct_url = qb._redis_url()
    redis_port = urlsplit(direct_url).port or 6379
    proxy = subprocess.Popen([sys.executable, str(REPO / "bench" / "redis_proxy.py"),
                              str(PROXY_PORT), str(redis_port), "900"])
    relayed_url = f"redis://127.0.0.1:{PROXY_PORT}/{qb.BENCH_REDIS_DB}"
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(relayed_url):  # the relay is listening
            if time.monotonic() > deadline or proxy.poll() is not None:
                sys.exit("the Redis relay did not start")
            time.sleep(0.05)
        figures: dict[str, dict] = {}
        for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
            tmp = Path(tempfile.mkdtemp(prefix="enqueue-bench-"))
            db = qb._db(tmp, kind)
            try:
                for path, url in (("loopback", direct_url), ("relayed", relayed_url)):
                    conn = connect(url)
                    conn.flushdb()
                    plain, ours = [], []
                    for _ in range(rounds):  # interleaved: a load swing hits both alike
                        plain.append(_plain(conn, n))
                        ours.append(_ours(db, conn, url, n))
                    figures[f"{kind}/{path}"] = {
                        "redis_rtt_ms": _rtt_ms(conn),
                        "plain_rq_enqueue_p50_ms": round(statistics.median(plain), 3),
                        "ours_enqueue_p50_ms": round(statistics.median(ours), 3),
                        "ours_rounds": ours}
                    conn.flushdb()
                    conn.close()
            finally:
                qb._drop_db(db)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    print(f"{'':24}{'Redis RTT':>10}{'plain RQ':>10}{'agentic':>10}{'over plain':>12}"
          "   (enqueue p50, ms)")
    for name, f in figures.items():
        f["ours_over_plain_ms"] = round(f["ours_enqueue_p50_ms"]
                                        - f["plain_rq_enqueue_p50_ms"], 3)
        print(f"{name:24}{f['redis_rtt_ms']:10.2f}{f['plain_rq_enqueue_p50_ms']:10.2f}"
              f"{f['ours_enqueue_p50_ms']:10.2f}{f['ours_over_plain_ms']:+12.2f}   rounds: "
              + " ".join(f"{x:.2f}" for x in f["ours_rounds"]))
    print(json.dumps({"load_average": os.getloadavg(), **figures}))


if __name__ == "__main__":
    main()
