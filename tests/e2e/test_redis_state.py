"""Browser: the production build with Reflex state in Redis (several backend workers) runs a
workflow and shows it live; only one backend worker supervises the RQ workers and scheduler."""

from __future__ import annotations

import time

import psutil
import pytest
import redis as redis_lib
from rq import Worker

from agentic_app.services.runtime import RUNTIME_LEASE_KEY
from tests.conftest import _with_db
from tests.e2e.conftest import ARTIFACTS, login, poll_until, start_app, watch_run_now
from tests.e2e.test_live_ui import SLOW_FLOW

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.own_app]

REFLEX_STATE_DB = 14
"""Redis logical database holding the Reflex state of this test (flushed first)."""


def _cmdlines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(" ".join(psutil.Process(pid).cmdline()))
        except psutil.Error:
            continue
    return out


@pytest.fixture
def prod_app(tmp_path, redis_url, redis_base_url):
    """`reflex run --env prod` with REFLEX_REDIS_URL set: state in Redis, several workers."""
    state_url = _with_db(redis_base_url, REFLEX_STATE_DB)
    redis_lib.Redis.from_url(state_url).flushdb()
    app = start_app(tmp_path / "data", redis_url, log_name="reflex-run-prod.log", prod=True,
                    REFLEX_REDIS_URL=state_url)
    try:
        yield app
    finally:
        app.stop()
    assert poll_until(lambda: app.group_pids() == [], 20), f"stray processes: {app.group_pids()}"


def test_redis_state_with_several_workers(prod_app, page, redis_url):
    """Several backend workers share the state in Redis, one of them supervises the job
    workers, and Run now is followed live to completed in the monitor."""
    conn = redis_lib.Redis.from_url(redis_url)
    assert poll_until(lambda: len(Worker.all(connection=conn)) >= 1, 60), \
        prod_app.log.read_text()[-3000:]
    assert conn.get(RUNTIME_LEASE_KEY) is not None
    backend_workers = psutil.Process(prod_app.proc.pid).children()  # granian's workers
    assert len([p for p in backend_workers if "reflex" in " ".join(p.cmdline())]) >= 2
    time.sleep(3)  # every backend worker has run its lifespan by now
    cmdlines = _cmdlines(prod_app.group_pids())
    assert sum(" supervise " in c for c in cmdlines) == 1, cmdlines  # one pool, not one per worker
    assert len(Worker.all(connection=conn)) == 1  # WORKER_PROCESSES=1, started once

    services = prod_app.services()
    wf_id = services.workflows.create(services.users.by_name("demo"), name="Prod chain",
                                      definition=SLOW_FLOW).id
    login(page, prod_app)
    watch_run_now(page, prod_app, wf_id)
    page.screenshot(path=str(ARTIFACTS / "monitor-prod-redis.png"), full_page=True)
    assert redis_lib.Redis.from_url(_with_db(redis_url, REFLEX_STATE_DB)).dbsize() > 0
