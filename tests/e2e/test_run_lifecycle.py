"""`reflex run` brings up workers and scheduler as children, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import pytest
import redis
from rq import Worker

from agentic_app.engine.scheduler.service import LEADER_KEY
from tests.e2e.conftest import poll_until, start_app

pytestmark = [pytest.mark.e2e, pytest.mark.own_app]


def test_reflex_run_starts_children_and_stops_cleanly(tmp_path, redis_url):
    """Workers register in Redis, the scheduler takes the lease; SIGINT ends every process."""
    app = start_app(tmp_path / "data", redis_url, log_name="reflex-run-lifecycle.log",
                    WORKER_PROCESSES="2")
    conn = redis.Redis.from_url(redis_url)
    try:
        assert poll_until(lambda: len(Worker.all(connection=conn)) >= 2, 60), \
            app.log.read_text()[-3000:]
        assert poll_until(lambda: conn.get(LEADER_KEY) is not None, 30)
        names = {w.name for w in Worker.all(connection=conn)}
        assert all(n.startswith("agentic-") for n in names)
        assert len(app.group_pids()) >= 5  # reflex, frontend, backend, supervisor, workers, ...
    finally:
        app.stop()
    assert poll_until(lambda: app.group_pids() == [], 20), f"stray processes: {app.group_pids()}"
    assert poll_until(lambda: Worker.all(connection=conn) == [], 10)
    assert conn.get(LEADER_KEY) is None
