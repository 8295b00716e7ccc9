"""An attempt's finish on PostgreSQL stores the attempt's last events inside its own
statement (``finish_attempt(in_statement=)``): one statement in autocommit (its own
transaction). Rows that may exist already, or a final failure (counted through a
session), take the transaction path; a finish that turns out stale still stores its events.
Checked on the rows themselves and on the statements SQLAlchemy sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from agentic_app.db.engine import get_engine
from agentic_app.db.models import (
    ExecutionEvent,
    ExecutionMetrics,
    JobQueueEntry,
    NodeExecution,
    ScheduledJob,
    WorkflowExecution,
)
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.engine.queue.attempts import claim_attempt, finish_attempt
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.runtime.prefork import _run_events

from .conftest import QueueEnv

pytestmark = pytest.mark.postgres
NOOP = {"nodes": [{"id": "d", "type": "delay", "params": {"seconds": 0}}]}


@contextmanager
def _statements(env: QueueEnv) -> Iterator[list[tuple[str, bool]]]:
    """The statements sent while the block runs: (first word, sent in autocommit)."""
    engine = get_engine(env.db_url)
    sent: list[tuple[str, bool]] = []

    def on_execute(conn, _cursor, statement, *_args) -> None:
        sent.append((statement.split()[0].upper(),
                     conn.connection.driver_connection.autocommit))

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)


def _claimed(env: QueueEnv, scheduled: bool = False):
    user = env.user("one")
    wf = env.workflow(user, NOOP)
    sj = None
    if scheduled:
        with env.db.session() as s:
            row = ScheduledJob(workflow_id=wf, user_id=user, trigger_type="cron",
                               consecutive_failures=2)
            s.add(row)
            s.commit()
            sj = row.id
    job = enqueue_execution(db=env.db, redis=env.redis, workflow_id=wf, user_id=user,
                            scheduled_job_id=sj, settings=env.settings)
    claimed = claim_attempt(db=env.db, job_id=job.id, attempt=1)
    assert claimed is not None
    return job, claimed, sj


def _finish(env: QueueEnv, claimed, events, sink: DatabaseEventSink, **kw) -> str:
    return finish_attempt(db=env.db, redis=env.redis, job_id=claimed.job_id, attempt=1,
                          settings=env.settings, known_state=claimed.state,
                          before_end=lambda c: sink.write_in(c, events),
                          in_statement=lambda: sink.in_statement(events), **kw)


def _counts(env: QueueEnv, execution_id: int) -> tuple[int, int, int]:
    with env.db.session() as s:
        return tuple(s.exec(sa.select(sa.func.count()).select_from(m).where(
            m.execution_id == execution_id)).one()[0]
            for m in (ExecutionEvent, NodeExecution, ExecutionMetrics))


def test_a_short_attempts_events_and_end_are_one_statement(qenv_postgres: QueueEnv) -> None:
    env = qenv_postgres
    job, claimed, sj = _claimed(env, scheduled=True)
    events = _run_events(claimed)
    with _statements(env) as sent:
        outcome = _finish(env, claimed, events, DatabaseEventSink(env.db), status="completed")
    assert outcome == "completed"
    assert sent == [("WITH", True)]  # one statement, its own transaction
    assert _counts(env, claimed.execution_id) == (len(events), 1, 1)
    with env.db.session() as s:
        assert s.get(JobQueueEntry, job.id).status == "completed"
        execution = s.get(WorkflowExecution, claimed.execution_id)
        assert (execution.status, execution.finished_at is not None) == ("completed", True)
        node = s.exec(sa.select(NodeExecution).where(
            NodeExecution.execution_id == claimed.execution_id)).one()[0]
        assert (node.status, node.node_type, node.finished_at is not None) == \
            ("succeeded", "delay", True)
        assert s.get(ScheduledJob, sj).consecutive_failures == 0  # a success resets it


def test_a_finish_that_turns_out_stale_still_stores_its_events(
        qenv_postgres: QueueEnv) -> None:
    """The job moved on after the claim (the task's known state is out of date): the
    statement stores the events, changes no status and the outcome is stale."""
    env = qenv_postgres
    job, claimed, _ = _claimed(env)
    events = _run_events(claimed)
    with env.db.write() as conn:
        conn.execute(sa.update(JobQueueEntry.__table__).where(
            JobQueueEntry.__table__.c.id == job.id).values(status="cancelled"))
    outcome = _finish(env, claimed, events, DatabaseEventSink(env.db), status="completed")
    assert outcome == "stale"
    assert _counts(env, claimed.execution_id) == (len(events), 1, 1)
    with env.db.session() as s:
        assert s.get(JobQueueEntry, job.id).status == "cancelled"
        assert s.get(WorkflowExecution, claimed.execution_id).status == "running"


def test_rows_that_may_exist_take_the_transaction_path(qenv_postgres: QueueEnv) -> None:
    """A long attempt whose node row was stored before the finish: the finish's batch
    updates it, so it goes in the finish's transaction."""
    env = qenv_postgres
    _, claimed, _ = _claimed(env)
    events = _run_events(claimed)
    sink = DatabaseEventSink(env.db)
    with env.db.write() as conn:
        sink.write_in(conn, events[:2])  # ExecutionStarted, NodeStarted
    with _statements(env) as sent:
        outcome = _finish(env, claimed, events[2:], sink, status="completed")
    assert outcome == "completed"
    assert len(sent) > 1 and not any(autocommit for _, autocommit in sent)
    assert _counts(env, claimed.execution_id) == (len(events), 1, 1)
    with env.db.session() as s:
        node = s.exec(sa.select(NodeExecution).where(
            NodeExecution.execution_id == claimed.execution_id)).one()[0]
        assert node.status == "succeeded" and node.started_at is not None


@pytest.mark.parametrize("retryable", [True, False])
def test_failures_retry_in_one_statement_and_final_ones_are_counted(
        qenv_postgres: QueueEnv, retryable: bool) -> None:
    """A retryable failure is a new pending attempt, in one statement; a final failure is
    counted on its schedule through a session, in the finish's transaction."""
    env = qenv_postgres
    job, claimed, sj = _claimed(env, scheduled=True)
    events = _run_events(claimed)
    with _statements(env) as sent:
        outcome = _finish(env, claimed, events, DatabaseEventSink(env.db), status="failed",
                          error="boom", retryable=retryable)
    assert _counts(env, claimed.execution_id) == (len(events), 1, 1)
    with env.db.session() as s:
        row, schedule = s.get(JobQueueEntry, job.id), s.get(ScheduledJob, sj)
        if retryable:
            assert (outcome, sent) == ("retrying", [("WITH", True)])
            assert (row.status, row.attempt, schedule.consecutive_failures) == ("pending", 2, 2)
        else:
            assert outcome == "failed" and len(sent) > 1
            assert not any(autocommit for _, autocommit in sent)  # one transaction
            assert (row.status, schedule.consecutive_failures) == ("failed", 3)
