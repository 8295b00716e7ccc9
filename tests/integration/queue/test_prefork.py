"""Worker priming (engine/runtime/prefork.py): it keeps no rows, and after it an attempt compiles no
SQL statement of its own (what a forking worker's work-horses would otherwise each redo)."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa

from agentic_app.db.engine import Database, get_engine, session_scope
from agentic_app.db.models import ScheduledJob, User, Workflow
from agentic_app.engine.events import db_sink
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.runtime.clients import ProcessClients
from agentic_app.engine.runtime.prefork import PRIME_WORKFLOW, prime
from agentic_app.settings import get_settings

TABLES = ("users", "workflows", "scheduled_jobs", "workflow_executions", "job_queue",
          "execution_events", "node_executions", "execution_metrics")


def _counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


@pytest.fixture
def settings(db_url, redis_url, monkeypatch):
    """Process settings on the test database and Redis (run_execution reads them)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_prime_keeps_nothing_and_leaves_no_statement_to_compile(settings, monkeypatch):
    """Priming commits no row; afterwards a scheduled job's attempt (claim, executor events,
    finish with the scheduled job's outcome) runs without compiling any statement."""
    url = settings.database_url
    with session_scope(url) as s:
        user = User(username="alice", password_hash="x")
        s.add(user)
        s.flush()
        wf = Workflow(user_id=user.id, name="wf", definition=PRIME_WORKFLOW)
        s.add(wf)
        s.flush()
        sj = ScheduledJob(workflow_id=wf.id, user_id=user.id, trigger_type="cron")
        s.add(sj)
        s.flush()
        ids = user.id, wf.id, sj.id
    before = _counts(url)
    assert prime(ProcessClients(settings)) is True
    assert _counts(url) == before

    client = redis.Redis.from_url(settings.redis_url)
    job = enqueue_execution(db=Database(url), redis=client, workflow_id=ids[1],
                                      user_id=ids[0], scheduled_job_id=ids[2],
                                      settings=settings)
    monkeypatch.setattr(db_sink, "EVENT_HOLD_S", 30.0)  # all events in the finish
    cache = get_engine(url)._compiled_cache
    compiled = set(cache.keys())
    from agentic_app.engine.runtime.tasks import run_execution

    assert run_execution(job.id, 1) == "completed"
    fresh = [cache[k].string for k in cache.keys() if k not in compiled]
    assert fresh == []
