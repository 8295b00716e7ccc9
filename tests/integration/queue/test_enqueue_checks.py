"""enqueue_execution's checks on SQLite and PostgreSQL (where the dedupe check, the owner,
kill switch and caps read and both inserts are one statement sent with its lock, BEGIN and
COMMIT in one round trip): each refusal raises the error of the check that failed and
creates nothing, the returned job is the row stored, and the caps stay exact when several
processes enqueue at the same time."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest
import redis as redis_lib
import sqlalchemy as sa

from agentic_app.db.engine import Database, session_scope
from agentic_app.db.models import (
    JobQueueEntry,
    ScheduledJob,
    User,
    Workflow,
    WorkflowExecution,
)
from agentic_app.domain.errors import ConflictError, LimitExceededError, NotFoundError
from agentic_app.engine.queue.enqueue import DuplicateJobError, enqueue_execution
from agentic_app.engine.queue.keys import slots_key
from agentic_app.settings import load_settings
from tests.conftest import _with_db

DEFINITION = {"nodes": [{"id": "wait", "type": "delay", "params": {"seconds": 0}}]}


@pytest.fixture
def env(db_url: str, redis_base_url: str) -> dict[str, Any]:
    """A migrated database (both kinds), a flushed Redis db and two users with a workflow."""
    url = _with_db(redis_base_url, 11)
    redis_lib.Redis.from_url(url).flushdb()
    with session_scope(db_url) as s:
        users = [User(username=name, password_hash="x") for name in ("alice", "bob")]
        s.add_all(users)
        s.flush()
        wfs = [Workflow(user_id=u.id, name="w", definition=DEFINITION, version=3)
               for u in users]
        s.add_all(wfs)
        s.flush()
        return {"db_url": db_url, "redis_url": url, "users": [u.id for u in users],
                "wfs": [w.id for w in wfs]}


def _settings(env: dict[str, Any], **caps: int) -> Any:
    limits = {"max_executions_per_day": caps.get("max_executions_per_day", 1000)}
    return load_settings(DATABASE_URL=env["db_url"], REDIS_URL=env["redis_url"], LIMITS=limits,
                         QUEUE_CONFIG={"max_queue_size": caps.get("max_queue_size", 1000)})


def _enqueue(env: dict[str, Any], settings: Any, wf: int, uid: int, **kw: Any) -> JobQueueEntry:
    return enqueue_execution(db=Database(env["db_url"]),
                             redis=redis_lib.Redis.from_url(env["redis_url"]),
                             workflow_id=wf, user_id=uid, settings=settings, **kw)


def _counts(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        return (s.exec(sa.select(sa.func.count()).select_from(JobQueueEntry)).one()[0],
                s.exec(sa.select(sa.func.count()).select_from(WorkflowExecution)).one()[0])


def test_returned_job_is_the_stored_row_and_the_execution_snapshots_the_workflow(env) -> None:
    """The job returned equals the row stored (dispatched: RQ id set); the execution carries
    the workflow's definition and version and the schedule's alert_only."""
    (alice, _), (wf, _) = env["users"], env["wfs"]
    with session_scope(env["db_url"]) as s:
        sj = ScheduledJob(workflow_id=wf, user_id=alice, name="j", trigger_type="cron",
                          trigger_config={}, alert_only=True)
        s.add(sj)
        s.flush()
        sj_id = sj.id
    job = _enqueue(env, _settings(env), wf, alice, trigger_payload={"a": [1, "x"]},
                   priority=5, scheduled_job_id=sj_id, dedupe_key="k1")
    assert sa.inspect(job).transient
    with session_scope(env["db_url"]) as s:
        stored = s.get(JobQueueEntry, job.id)
        assert stored.model_dump() == job.model_dump()
        assert stored.rq_job_id == f"agentic-{job.id}-1"
        ex = s.get(WorkflowExecution, job.execution_id)
        assert (ex.definition, ex.workflow_version, ex.alert_only) == (DEFINITION, 3, True)
        assert (ex.trigger_payload, ex.status, ex.scheduled_job_id) == ({"a": [1, "x"]},
                                                                         "pending", sj_id)


def test_each_refusal_raises_its_own_error_and_creates_nothing(env) -> None:
    """Duplicate key, another user's workflow, a deactivated workflow, the kill switch, the
    full queue and the daily cap: each its error (field / limit named), no row written."""
    from agentic_app.db.broker_models import TradingHalt

    (alice, bob), (wf, bob_wf) = env["users"], env["wfs"]
    settings = _settings(env)
    first = _enqueue(env, settings, wf, alice, dedupe_key="dup")
    before = _counts(env["db_url"])
    with pytest.raises(DuplicateJobError) as dup:
        _enqueue(env, settings, wf, alice, dedupe_key="dup")
    assert dup.value.job_id == first.id and dup.value.field == "dedupe_key"
    with pytest.raises(NotFoundError) as nf:
        _enqueue(env, settings, bob_wf, alice)
    assert nf.value.field == "workflow_id"
    with pytest.raises(NotFoundError):
        _enqueue(env, settings, 999_999, alice)
    with pytest.raises(LimitExceededError) as full:
        _enqueue(env, _settings(env, max_queue_size=1), wf, alice)
    assert full.value.limit == "max_queue_size"
    with pytest.raises(LimitExceededError) as daily:
        _enqueue(env, _settings(env, max_executions_per_day=1), wf, alice)
    assert daily.value.limit == "max_executions_per_day"
    with session_scope(env["db_url"]) as s:
        s.add(TradingHalt(user_id=alice, engaged=True))
    with pytest.raises(ConflictError) as halted:
        _enqueue(env, settings, wf, alice)
    assert halted.value.field == "kill_switch"
    with session_scope(env["db_url"]) as s:
        s.get(Workflow, bob_wf).is_active = False
    with pytest.raises(ConflictError) as inactive:
        _enqueue(env, settings, bob_wf, bob)
    assert inactive.value.field == "workflow_id"
    assert _counts(env["db_url"]) == before
    assert redis_lib.Redis.from_url(env["redis_url"]).smembers(slots_key(alice)) == {
        str(first.id).encode()}  # every refused enqueue gave its reserved slot back


def _enqueuer(db_url: str, redis_url: str, caps: dict[str, int], uid: int, wf: int,
              start_at: float, attempts: int) -> list[str]:
    """One process's enqueues, started at ``start_at``: "ok" or the refused limit each."""
    env = {"db_url": db_url, "redis_url": redis_url}
    settings = _settings(env, **caps)
    db, redis = Database(db_url), redis_lib.Redis.from_url(redis_url)
    time.sleep(max(0.0, start_at - time.time()))
    out = []
    for _ in range(attempts):
        try:
            enqueue_execution(db=db, redis=redis, workflow_id=wf, user_id=uid,
                              settings=settings)
            out.append("ok")
        except LimitExceededError as exc:
            out.append(exc.limit)
    return out


@pytest.mark.parametrize("cap", ["max_queue_size", "max_executions_per_day"])
def test_caps_stay_exact_with_concurrent_enqueuers(env, cap: str) -> None:
    """Four processes enqueue 12 runs each at the same moment against a cap of 25: exactly
    25 are accepted and stored, the other 23 refused naming the cap, and exactly 10 (the
    per-user concurrency) are dispatched."""
    (alice, _), (wf, _) = env["users"], env["wfs"]
    start_at = time.time() + 4.0  # after the spawned processes have imported the app
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_enqueuer, [(env["db_url"], env["redis_url"], {cap: 25},
                                            alice, wf, start_at, 12)] * 4)
    outcomes = [o for r in results for o in r]
    assert outcomes.count("ok") == 25 and outcomes.count(cap) == 23
    assert _counts(env["db_url"]) == (25, 25)
    with session_scope(env["db_url"]) as s:
        dispatched = s.exec(sa.select(sa.func.count()).select_from(JobQueueEntry).where(
            JobQueueEntry.rq_job_id.is_not(None))).one()[0]
    assert dispatched == 10
    assert redis_lib.Redis.from_url(env["redis_url"]).scard(slots_key(alice)) == 10


def test_an_enqueue_waits_for_the_lock_and_counts_what_its_holder_committed(env) -> None:
    """While another transaction holds the enqueue lock and fills the queue, an enqueue
    waits; once that transaction commits, the enqueue sees its rows and is refused
    (max_queue_size). On PostgreSQL this is what the statement after the lock is for: a
    count in the lock's own statement would use a snapshot from before the commit."""
    import threading

    from agentic_app.engine.queue.enqueue import insert_job
    from agentic_app.engine.queue.limits import lock_writes

    (alice, _), (wf, _) = env["users"], env["wfs"]
    settings = _settings(env, max_queue_size=3)
    outcome: list[Any] = []

    def enqueue() -> None:
        try:
            outcome.append(_enqueue(env, settings, wf, alice))
        except LimitExceededError as exc:
            outcome.append(exc.limit)

    with Database(env["db_url"]).engine.connect() as conn:
        lock_writes(conn)
        thread = threading.Thread(target=enqueue)
        thread.start()
        time.sleep(0.5)
        assert outcome == []  # waiting for the lock
        for _ in range(3):
            insert_job(conn, settings, workflow_id=wf, user_id=alice, trigger_type="manual",
                       trigger_payload={}, priority=0, scheduled_job_id=None,
                       dedupe_key=None, dispatched=False)
        conn.commit()
    thread.join(30)
    assert outcome == ["max_queue_size"]
    assert _counts(env["db_url"]) == (3, 3)


@pytest.mark.parametrize("empty_db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_failed_locked_statement_raises_sqlalchemys_error_and_pools_a_clean_connection(
        db_url: str) -> None:
    """PostgreSQL's one-round-trip transaction: a unique violation comes back as
    SQLAlchemy's IntegrityError (what enqueue's dedupe handling catches), nothing of it
    stays, and the pooled connection is back out of autocommit and idle."""
    from agentic_app.db.locks import locked_statement_pg

    assert db_url.startswith("postgresql")
    engine = Database(db_url).engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (id int PRIMARY KEY)")
    insert = "INSERT INTO probe VALUES (%(i)s) RETURNING id"
    assert tuple(locked_statement_pg(engine, 7, insert, {"i": 1})) == (1,)
    with pytest.raises(sa.exc.IntegrityError):
        locked_statement_pg(engine, 7, insert, {"i": 1})
    raw = engine.raw_connection()
    try:
        assert raw.driver_connection.autocommit is False
        assert raw.driver_connection.info.transaction_status.name == "IDLE"
    finally:
        raw.close()
    assert tuple(locked_statement_pg(engine, 7, "SELECT count(*) FROM probe", {})) == (1,)
