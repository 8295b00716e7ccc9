"""DatabaseEventSink against a real SQLite file and a real PostgreSQL database (whose new
rows of a batch go in one statement): the rows match the executor's events."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlmodel import Session, SQLModel, select

from agentic_app.db.engine import Database, get_engine
from agentic_app.db.models import (
    ExecutionEvent,
    ExecutionMetrics,
    NodeExecution,
    User,
    Workflow,
    WorkflowExecution,
)
from agentic_app.domain.events import NodeLog
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.engine.events.sink import CompositeSink, MemorySink
from agentic_app.engine.executor.runner import execute_sync
from agentic_app.nodes.base import NodeType
from tests.conftest import fresh_postgres_database
from tests.unit.engine.test_executor import make_registry, wf

AT = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A fresh database with a user, a workflow and an execution; (url, execution id)."""
    if request.param == "sqlite":
        yield from _seeded(f"sqlite:///{tmp_path}/x.db")
        return
    with fresh_postgres_database("event_sink") as url:
        yield from _seeded(url)


def _seeded(url: str):
    engine = get_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        user = User(username="ann", password_hash="x")
        session.add(user)
        session.flush()
        flow = Workflow(user_id=user.id, name="w", definition={})
        session.add(flow)
        session.flush()
        execution = WorkflowExecution(workflow_id=flow.id, user_id=user.id)
        session.add(execution)
        session.commit()
        yield url, execution.id
    engine.dispose()


def registry_with_numpy():
    """The executor tests' node types plus one returning numpy values and logging a lot."""
    reg = make_registry()

    @reg.register
    class Numbers(NodeType):
        """Returns numpy scalars/arrays and a NaN; logs ``lines`` times."""

        type_name = "numbers"

        def run(self, ctx, params, inputs):
            for i in range(300):
                ctx.log(f"line {i}", level="debug", i=np.int64(i))
            return {"rsi": np.float64(28.5), "series": np.array([1.0, 2.0]), "gap": float("nan")}

    return reg


def rows(url: str, model, execution_id: int, order):
    """All rows of ``model`` for the execution, ordered."""
    with Session(get_engine(url)) as session:
        return session.exec(
            select(model).where(model.execution_id == execution_id).order_by(*order)
        ).all()


def test_rows_match_events(db):
    """Every event is stored in seq order; node rows and metrics match the result."""
    url, execution_id = db
    memory = MemorySink()
    sink = DatabaseEventSink(Database(url))
    raw = wf(
        [
            ("c", "branch", {"take": "true"}),
            ("n", "numbers"),
            ("e", "echo"),
            ("no", "wait"),
            ("f", "fail", {"kind": "value"}),
            ("after", "wait"),
        ],
        [("c", "n", "true"), ("n", "e"), ("c", "no", "false"), ("e", "f"), ("f", "after")],
    )
    result = execute_sync(
        raw,
        registry=registry_with_numpy(),
        sink=CompositeSink(memory, sink),
        execution_id=execution_id,
        now=AT,
        memory_limit_mb=None,
    )
    stored = rows(url, ExecutionEvent, execution_id, [ExecutionEvent.seq])
    assert len(stored) == len(memory.events) > 300
    for row, event in zip(stored, memory.events, strict=True):
        expected = event.to_dict()
        assert (row.seq, row.type, row.node_id, row.level, row.message) == (
            event.seq,
            event.type,
            event.node_id,
            event.level,
            event.message,
        )
        assert row.ts == event.ts and row.data == expected["data"]
    assert stored[-1].type == "ExecutionFinished"
    logs = [r for r in stored if r.type == "NodeLog"]
    assert [r.data["i"] for r in logs] == list(range(300))

    nodes = {r.node_id: r for r in rows(url, NodeExecution, execution_id, [NodeExecution.id])}
    assert {n: r.status for n, r in nodes.items()} == {n: r.status for n, r in result.nodes.items()}
    assert nodes["n"].output == {"rsi": 28.5, "series": [1.0, 2.0], "gap": None}
    assert nodes["e"].output["now"] == AT.isoformat()
    assert nodes["n"].started_at <= nodes["n"].finished_at
    assert nodes["n"].duration_ms == pytest.approx(result.nodes["n"].duration_ms, abs=0.01)
    assert nodes["f"].error == "FatalError: ValueError: odd value"
    assert nodes["no"].error == "branch 'false' of 'c' not taken" and nodes["no"].started_at is None
    assert all(r.attempt == 1 and r.node_type for r in nodes.values())

    (metrics,) = rows(url, ExecutionMetrics, execution_id, [ExecutionMetrics.id])
    assert (metrics.total_nodes, metrics.successful_nodes, metrics.failed_nodes) == (6, 3, 1)
    assert metrics.total_time_ms == round(result.metrics["total_time_ms"])
    assert float(metrics.memory_used_mb) == pytest.approx(result.metrics["memory_used_mb"])


def test_retry_attempt_continues_seq_and_adds_node_rows(db):
    """A second attempt continues seq after the stored max, adds per-attempt node rows and
    updates the single metrics row."""
    url, execution_id = db
    raw = wf([("a", "wait"), ("b", "fail", {"kind": "retryable"})], [("a", "b")])
    with DatabaseEventSink(Database(url)) as sink:
        first = execute_sync(
            raw,
            registry=make_registry(),
            sink=sink,
            execution_id=execution_id,
            memory_limit_mb=None,
        )
        assert first.error_retryable
        fixed = wf([("a", "wait"), ("b", "wait")], [("a", "b")])
        second = execute_sync(
            fixed,
            registry=make_registry(),
            sink=sink,
            execution_id=execution_id,
            attempt=2,
            first_seq=first.last_seq + 1,
            memory_limit_mb=None,
        )
    assert second.ok
    events = rows(url, ExecutionEvent, execution_id, [ExecutionEvent.seq])
    assert [e.seq for e in events] == list(range(1, second.last_seq + 1))
    node_rows = rows(
        url, NodeExecution, execution_id, [NodeExecution.attempt, NodeExecution.node_id]
    )
    assert [(r.node_id, r.attempt, r.status) for r in node_rows] == [
        ("a", 1, "succeeded"),
        ("b", 1, "failed"),
        ("a", 2, "succeeded"),
        ("b", 2, "succeeded"),
    ]
    (metrics,) = rows(url, ExecutionMetrics, execution_id, [ExecutionMetrics.id])
    assert (metrics.successful_nodes, metrics.failed_nodes) == (2, 0)


def test_bad_event_is_reported_and_later_events_still_stored(db):
    """An event that cannot be stored is recorded in ``errors``; the others are committed."""
    url, execution_id = db
    sink = DatabaseEventSink(Database(url))
    sink.emit(NodeLog(execution_id=execution_id, seq=1, message="ok"))
    sink.emit(NodeLog(execution_id=execution_id, seq=1, message="duplicate seq"))
    sink.emit(NodeLog(execution_id=execution_id, seq=2, message="after"))
    assert sink.flush()
    sink.close()
    stored = rows(url, ExecutionEvent, execution_id, [ExecutionEvent.seq])
    assert [(r.seq, r.message) for r in stored] == [(1, "ok"), (2, "after")]
    assert len(sink.errors) == 1 and "seq 1" in sink.errors[0]


def test_held_events_of_a_long_execution_are_stored_and_published_while_it_runs(db):
    """With a 50 ms hold, a running execution's first events are in the DB and published
    within a fraction of a second, long before it ends; order and contiguity are kept."""
    import threading
    import time

    url, execution_id = db
    published: list[int] = []
    sink = DatabaseEventSink(Database(url), hold_s=0.05,
                             after_commit=lambda evs: published.extend(e.seq for e in evs))
    spec = wf([("a", "wait", {"seconds": 1.5})], [])
    runner = threading.Thread(target=lambda: execute_sync(
        spec, registry=make_registry(), sink=sink, execution_id=execution_id, now=AT))
    runner.start()
    time.sleep(0.5)
    with Session(get_engine(url)) as session:
        stored = session.exec(select(ExecutionEvent.seq).where(
            ExecutionEvent.execution_id == execution_id)).all()
    assert {1, 2} <= set(stored)  # ExecutionStarted, NodeStarted while the node still runs
    assert published[:2] == [1, 2]
    runner.join(timeout=10)
    sink.flush()
    with Session(get_engine(url)) as session:
        seqs = sorted(session.exec(select(ExecutionEvent.seq).where(
            ExecutionEvent.execution_id == execution_id)).all())
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert published == seqs  # published once each, in order, after being stored
