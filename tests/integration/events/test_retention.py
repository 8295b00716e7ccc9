"""Retention on SQLite and PostgreSQL with a real Redis: what goes, what stays, counts."""

from __future__ import annotations

from datetime import timedelta

import redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlmodel import Session, func, select

from agentic_app.db.engine import Database, get_engine
from agentic_app.db.models import (
    ExecutionEvent,
    ExecutionMetrics,
    JobQueueEntry,
    NodeExecution,
    WorkflowExecution,
)
from agentic_app.db.trading_models import Notification, PaperOrder
from agentic_app.domain.events import NodeStarted, NodeSucceeded
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.engine.queue.names import QUEUE_NORMAL
from agentic_app.engine.queue.retention import purge_old, run_retention
from agentic_app.settings import load_settings
from tests.integration.events.helpers import (
    T0,
    make_execution,
    make_user_and_workflow,
    run_events,
)

NOW = T0 + timedelta(days=100)


class World:
    """A user with executions whose job rows are of various statuses and ages."""

    def __init__(self, url: str, redis_client: redis.Redis) -> None:
        self.url = url
        self.queue = Queue(QUEUE_NORMAL, connection=redis_client, serializer=JSONSerializer)
        self.user_id, self.flow_id = make_user_and_workflow(url)

    def job(self, status: str, age_days: float, *, execution_id: int | None = None,
            history: bool = True, completed: bool = True) -> tuple[int | None, str]:
        """An execution (unless given) with events and a job row finished ``age_days`` ago."""
        at = NOW - timedelta(days=age_days)
        if execution_id is None:
            execution_id = make_execution(self.url, self.user_id, self.flow_id,
                                          status=status, created_at=at)
            if history:
                self._history(execution_id)
        rq_job = self.queue.enqueue("builtins.len", [1])
        with Session(get_engine(self.url)) as session:
            session.add(JobQueueEntry(
                workflow_id=self.flow_id, user_id=self.user_id, execution_id=execution_id,
                rq_job_id=rq_job.id, status=status, created_at=at,
                completed_at=at if completed else None))
            session.commit()
        return execution_id, rq_job.id

    def _history(self, execution_id: int) -> None:
        events = run_events(execution_id, 4)
        events[1] = NodeStarted(execution_id=execution_id, seq=2, node_id="n",
                                data={"node_type": "t"})
        events[2] = NodeSucceeded(execution_id=execution_id, seq=3, node_id="n",
                                  data={"node_type": "t", "duration_ms": 1, "output": {}})
        with DatabaseEventSink(Database(self.url)) as sink:
            for event in events:
                sink.emit(event)
        with Session(get_engine(self.url)) as session:
            session.add(PaperOrder(user_id=self.user_id, symbol="EURUSD", side="buy",
                                   quantity=1, idempotency_key=f"k{execution_id}",
                                   execution_id=execution_id))
            session.add(Notification(user_id=self.user_id, execution_id=execution_id,
                                     title="t"))
            session.commit()


def _count(url: str, model, execution_id: int) -> int:
    with Session(get_engine(url)) as session:
        return session.exec(select(func.count()).select_from(model)
                            .where(model.execution_id == execution_id)).one()


def _exists(url: str, execution_id: int) -> bool:
    with Session(get_engine(url)) as session:
        return session.get(WorkflowExecution, execution_id) is not None


def test_purge_old_deletes_old_finished_and_keeps_the_rest(db_url, redis_url):
    """Old completed/cancelled and very old failed go with history and RQ jobs; others stay."""
    client = redis.Redis.from_url(redis_url)
    w = World(db_url, client)
    old_done, old_done_rq = w.job("completed", 10)
    old_cancelled, _ = w.job("cancelled", 10, completed=False)  # aged by created_at
    failed_recent, failed_recent_rq = w.job("failed", 10)
    failed_old, _ = w.job("failed", 40)
    done_recent, _ = w.job("completed", 1)
    shared, _ = w.job("completed", 10)
    w.job("pending", 0.1, execution_id=shared, completed=False)  # manual retry in flight

    counts = purge_old(Database(db_url), client, completed_days=7, failed_days=30, now=NOW)

    gone, kept = [old_done, old_cancelled, failed_old], [failed_recent, done_recent, shared]
    assert [_exists(db_url, e) for e in gone] == [False] * 3
    assert [_exists(db_url, e) for e in kept] == [True] * 3
    for model in (ExecutionEvent, NodeExecution, ExecutionMetrics, JobQueueEntry):
        assert [_count(db_url, model, e) for e in gone] == [0, 0, 0], model
        assert _count(db_url, model, failed_recent) > 0, model
    for model in (PaperOrder, Notification):  # plain execution_id columns: kept
        assert _count(db_url, model, old_done) == 1
    assert counts["workflow_executions"] == 3
    assert counts["job_queue"] == 3
    assert counts["execution_events"] == 12
    assert counts["node_executions"] == 3 and counts["execution_metrics"] == 3
    assert counts["rq_jobs"] == 3
    assert not client.exists(f"rq:job:{old_done_rq}")
    assert client.exists(f"rq:job:{failed_recent_rq}")
    assert old_done_rq not in w.queue.job_ids
    assert purge_old(Database(db_url), client, completed_days=7, failed_days=30, now=NOW).get(
        "workflow_executions", 0) == 0


def test_run_retention_uses_settings_and_survives_redis_down(sqlite_db_url):
    """run_retention reads the database from settings; no Redis only skips the RQ part."""
    user_id, flow_id = make_user_and_workflow(sqlite_db_url)
    old = make_execution(sqlite_db_url, user_id, flow_id, status="completed",
                         created_at=NOW - timedelta(days=9))
    with Session(get_engine(sqlite_db_url)) as session:
        session.add(JobQueueEntry(workflow_id=flow_id, user_id=user_id, execution_id=old,
                                  rq_job_id="gone", status="completed",
                                  created_at=NOW - timedelta(days=9)))
        session.commit()
    settings = load_settings(database_url=sqlite_db_url, redis_url="redis://127.0.0.1:1/0")
    counts = run_retention(settings, completed_days=8, now=NOW)
    assert counts["workflow_executions"] == 1 and counts["rq_jobs"] == 0
    assert not _exists(sqlite_db_url, old)


def test_missed_runs_capped_per_job_and_purged(db_url, redis_url):
    """record_missed keeps a job's newest ``keep`` records (a long downtime records at most
    that many); retention drops records older than failed_days and trims each job to
    max_missed_runs, leaving other jobs' records alone."""
    from agentic_app.db.models import ScheduledJob
    from agentic_app.db.scheduler_models import MissedRun
    from agentic_app.engine.scheduler import store

    user_id, flow_id = make_user_and_workflow(db_url)
    with Session(get_engine(db_url)) as session:
        jobs = [ScheduledJob(workflow_id=flow_id, user_id=user_id, trigger_type="cron",
                             trigger_config={"cron_expression": "* * * * *"})
                for _ in range(2)]
        session.add_all(jobs)
        session.commit()
        first, second = (j.id for j in jobs)
    db = Database(db_url)
    fires = [NOW - timedelta(minutes=m) for m in range(500, 0, -1)]
    assert store.record_missed(db, first, fires, "downtime", keep=20) == 20
    assert store.record_missed(db, first, fires[-5:], "downtime", keep=20) == 0  # idempotent

    def times(job_id: int) -> list:
        with Session(get_engine(db_url)) as session:
            return list(session.exec(select(MissedRun.fire_time).where(
                MissedRun.scheduled_job_id == job_id).order_by(MissedRun.fire_time)).all())

    assert len(times(first)) == 20
    assert times(first)[-1].replace(tzinfo=None) == fires[-1].replace(tzinfo=None)
    assert store.record_missed(db, second, fires[-3:], "overlap", keep=20) == 3
    with Session(get_engine(db_url)) as session:  # one old record of the second job
        session.add(MissedRun(scheduled_job_id=second, fire_time=NOW - timedelta(days=50),
                              reason="downtime", recorded_at=NOW - timedelta(days=40)))
        session.commit()
    counts = purge_old(db, None, completed_days=7, failed_days=30, now=NOW, max_missed_runs=5)
    assert counts["missed_runs"] == 15 + 1
    assert len(times(first)) == 5 and len(times(second)) == 3
