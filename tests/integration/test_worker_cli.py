"""`python -m agentic_app worker`: workers in `rq info`, an execution pending -> completed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis

from agentic_app.db.engine import Database, session_scope
from agentic_app.db.models import User, Workflow
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.queue.names import QUEUE_NAMES, QUEUE_NORMAL
from agentic_app.engine.queue.rows import get_job
from agentic_app.settings import REPO_ROOT, load_settings


def _enqueue(db_url: str, redis_url: str):
    with session_scope(db_url) as s:
        user = User(username="cli", password_hash="!")
        s.add(user)
        s.flush()
        wf = Workflow(user_id=user.id, name="w", definition={
            "nodes": [{"id": "wait", "type": "delay", "params": {"seconds": 0.5}}]})
        s.add(wf)
        s.flush()
        ids = (user.id, wf.id)
    settings = load_settings(database_url=db_url, redis_url=redis_url)
    return enqueue_execution(db=Database(db_url), redis=redis.Redis.from_url(redis_url),
                             workflow_id=ids[1], user_id=ids[0], settings=settings)


def test_rq_info_shows_agentic_queues_and_workers(sqlite_db_url, redis_url):
    """Two CLI workers appear in `rq info` on our three queues; an enqueued execution goes
    pending -> completed in the database and its queue shows in `rq info`."""
    env = dict(os.environ, DATABASE_URL=sqlite_db_url, REDIS_URL=redis_url)
    proc = subprocess.Popen([sys.executable, "-m", "agentic_app", "worker", "--processes", "2"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    rq = str(REPO_ROOT / ".venv" / "bin" / "rq")
    try:
        deadline = time.monotonic() + 60
        out = ""
        while time.monotonic() < deadline:
            out = subprocess.run([rq, "info", "--url", redis_url, "--only-workers"],
                                 capture_output=True, text=True, timeout=30).stdout
            if out.count("agentic-") >= 2:
                break
            time.sleep(0.5)
        assert out.count("agentic-") >= 2, out
        for name in QUEUE_NAMES:
            assert name in out
        job = _enqueue(sqlite_db_url, redis_url)
        assert job.status == "pending"
        queues = subprocess.run([rq, "info", "--url", redis_url, "--only-queues"],
                                capture_output=True, text=True, timeout=30).stdout
        assert QUEUE_NORMAL in queues, queues
        deadline = time.monotonic() + 60
        while get_job(Database(sqlite_db_url), job.id).status != "completed":
            assert time.monotonic() < deadline, get_job(Database(sqlite_db_url), job.id)
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
