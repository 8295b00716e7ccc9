"""The rows of stored events: ``execution_events``, one ``node_executions`` row per
(execution, node, attempt) and an ``execution_metrics`` row per execution, written with
statements built once per process (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from agentic_app.domain.events import (
    NODE_STATUS_BY_EVENT,
    Event,
    ExecutionFinished,
    NodeCancelled,
    NodeFailed,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    jsonable,
)

NodeKey = tuple[Any, str, int]
"""(execution id, node id, attempt): one ``node_executions`` row."""
REMEMBERED_MAX = 10_000
"""Most node rows (and fresh executions) remembered before the memory is cleared."""


class EventRows:
    """Writes batches of events through a connection, remembering the node rows it created
    and the executions whose first event it stored (saving lookups of later batches)."""

    def __init__(self) -> None:
        self._node_rows: dict[NodeKey, int] = {}
        self._fresh: set[Any] = set()

    def remember(self, created: dict[NodeKey, int]) -> None:
        """Keep the node rows of a committed batch (:meth:`insert`'s result)."""
        self._node_rows.update(created)
        if len(self._node_rows) > REMEMBERED_MAX:
            self._node_rows.clear()

    def insert(self, conn: Any, events: list[Event]) -> dict[NodeKey, int]:
        """The statements of one batch; returns the node rows it created (key -> id).

        A node's events in the batch become one row write (NodeStarted + NodeSucceeded of a
        short node: one INSERT); a node first seen here by its NodeStarted gets no lookup
        (one row per attempt, and an attempt is run once). The metrics row of an execution
        whose first event (seq 1) these rows stored, at its first ExecutionFinished, is
        inserted without a lookup: only ExecutionFinished writes metrics, and none can be
        stored before that first event.
        """
        plan = self._plan(events)
        self._apply(plan)
        if conn.dialect.name == "postgresql":
            return self._insert_pg(conn, plan)
        created: dict[NodeKey, int] = {}
        conn.execute(_sql("events_insert"), plan.rows)
        for key, node_events in plan.by_node.items():
            self._upsert_node(conn, key, node_events, created)
        for event, fresh in plan.metrics:
            self._upsert_metrics(conn, event, fresh=fresh)
        return created

    def new_rows_only(self, events: list[Event]) -> dict[str, str] | None:
        """PostgreSQL: when every row ``events`` write is new (each node row first seen by
        its NodeStarted here, the metrics row only of an execution whose first event is
        stored with it), the parameters of the inserts of
        :data:`~agentic_app.engine.events.pg_rows.NEW_ROWS_CTES`, the batch then counted as
        stored (the caller's statement must store it); else None, and nothing changes (the
        batch needs :meth:`insert`). The node rows' ids are not remembered: use it for an
        attempt's last batch."""
        from agentic_app.engine.events.pg_rows import new_rows_params

        plan = self._plan(events)
        new_nodes, known = self._split_nodes(plan.by_node)
        if known or not all(fresh for _, fresh in plan.metrics):
            return None
        self._apply(plan)
        return new_rows_params(plan.rows, new_nodes, _new_metrics(plan.metrics))

    def _plan(self, events: list[Event]) -> _Plan:
        """What a batch writes, read without changing the remembered state."""
        rows = [dict(execution_id=e.execution_id, seq=e.seq, attempt=e.attempt, ts=e.ts,
                     type=e.type, node_id=e.node_id, level=e.level, message=e.message,
                     data=jsonable(e.data))
                for e in events]
        by_node: dict[NodeKey, list[Event]] = {}
        first = set()
        for event in events:
            if event.seq == 1:
                first.add(event.execution_id)
            if isinstance(event, _NODE_EVENTS):
                by_node.setdefault((event.execution_id, event.node_id, event.attempt),
                                   []).append(event)
        metrics: list[tuple[Event, bool]] = []
        finished = set()
        for event in events:
            if isinstance(event, ExecutionFinished):
                ex = event.execution_id
                metrics.append((event, (ex in self._fresh or ex in first) and ex not in finished))
                finished.add(ex)  # a later attempt updates the row
        return _Plan(rows, by_node, metrics, first, finished)

    def _apply(self, plan: _Plan) -> None:
        """Count ``plan``'s batch as stored: executions whose first event it holds are fresh
        until their first ExecutionFinished."""
        self._fresh |= plan.first
        self._fresh -= plan.finished
        if len(self._fresh) > REMEMBERED_MAX:
            self._fresh.clear()

    def _split_nodes(self, by_node: dict[NodeKey, list[Event]]
                     ) -> tuple[list[dict[str, Any]], list[tuple[NodeKey, list[Event]]]]:
        """The node rows first seen by their NodeStarted (new rows' values), and the rest
        (rows that may exist: :meth:`_upsert_node`)."""
        new_nodes, known = [], []
        for key, node_events in by_node.items():
            if self._node_rows.get(key) is None and isinstance(node_events[0], NodeStarted):
                values = _merged_node_values(node_events)
                new_nodes.append(dict(execution_id=key[0], node_id=key[1], attempt=key[2],
                                      node_type=str(node_events[0].data.get("node_type", "")),
                                      **values))
            else:
                known.append((key, node_events))
        return new_nodes, known

    def _insert_pg(self, conn: Any, plan: _Plan) -> dict[NodeKey, int]:
        """PostgreSQL: every new row of the batch (events, node rows first seen by their
        NodeStarted, a fresh execution's metrics) in one statement, then the updates."""
        from agentic_app.engine.events.pg_rows import insert_new_rows

        new_nodes, known = self._split_nodes(plan.by_node)
        created = insert_new_rows(conn, plan.rows, new_nodes, _new_metrics(plan.metrics))
        for key, node_events in known:
            self._upsert_node(conn, key, node_events, created)
        for event, fresh in plan.metrics:
            if not fresh:
                self._upsert_metrics(conn, event)
        return created

    def _upsert_node(self, conn: Any, key: NodeKey, events: list[Event],
                     created: dict) -> None:
        """Write one node row from its events in this batch (in seq order)."""
        row_id = created.get(key) or self._node_rows.get(key)
        if row_id is None and not isinstance(events[0], NodeStarted):
            row_id = conn.execute(_sql("node_id"), {
                "b_execution_id": key[0], "b_node_id": key[1], "b_attempt": key[2]}).scalar()
        values = _merged_node_values(events)
        if row_id is None:
            if "fallback_start" in values:
                values["started_at"] = values.pop("fallback_start")
            created[key] = conn.execute(_sql("node_insert"), dict(
                execution_id=key[0], node_id=key[1], attempt=key[2],
                node_type=str(events[0].data.get("node_type", "")),
                **values)).inserted_primary_key[0]
            return
        params = {f"b_{k}": v for k, v in values.items()}
        params["b_id"] = row_id
        conn.execute(_node_update(tuple(values)), params)
        created[key] = row_id

    @staticmethod
    def _upsert_metrics(conn: Any, event: Event, *, fresh: bool = False) -> None:
        from agentic_app.db.models import utcnow

        values = _metrics_values(event)
        row_id = None if fresh else conn.execute(
            _sql("metrics_id"), {"b_execution_id": event.execution_id}).scalar()
        if row_id is None:
            conn.execute(_sql("metrics_insert"), dict(execution_id=event.execution_id,
                                                       created_at=utcnow(), **values))
        else:
            conn.execute(_sql("metrics_update"),
                         {"b_id": row_id, **{f"b_{k}": v for k, v in values.items()}})


@dataclass(frozen=True)
class _Plan:
    """A batch's rows: event rows, node events by row, ExecutionFinished events with
    whether their execution's metrics row is new, executions first seen and finished."""

    rows: list[dict[str, Any]]
    by_node: dict[NodeKey, list[Event]]
    metrics: list[tuple[Event, bool]]
    first: set[Any]
    finished: set[Any]


def _new_metrics(metrics: list[tuple[Event, bool]]) -> list[dict[str, Any]]:
    """The new metrics rows' values (of the fresh executions' ExecutionFinished events)."""
    from agentic_app.db.models import utcnow

    return [dict(execution_id=event.execution_id, created_at=utcnow(),
                 **_metrics_values(event)) for event, fresh in metrics if fresh]


def _metrics_values(event: Event) -> dict[str, Any]:
    """The ``execution_metrics`` columns of an ExecutionFinished event."""
    m = event.data.get("metrics") or {}
    return dict(
        total_nodes=int(m.get("total_nodes", 0)),
        successful_nodes=int(m.get("successful_nodes", 0)),
        failed_nodes=int(m.get("failed_nodes", 0)),
        total_time_ms=round(float(m.get("total_time_ms", 0))),
        avg_node_time_ms=round(float(m.get("avg_node_time_ms", 0))),
        memory_used_mb=Decimal(str(round(float(m.get("memory_used_mb", 0)), 2))))


def _merged_node_values(events: list[Event]) -> dict[str, Any]:
    """The node row columns one node's events of a batch set, in seq order
    (``fallback_start`` only when no NodeStarted gave started_at: see :func:`_node_values`)."""
    values: dict[str, Any] = {}
    for event in events:
        values.update(_node_values(event))
    if "started_at" in values:
        values.pop("fallback_start", None)
    return values


def _node_values(event: Event) -> dict[str, Any]:
    """The ``node_executions`` columns one node event sets (``fallback_start``: started_at
    derived from the duration, used only when the row has none)."""
    values: dict[str, Any] = {"status": NODE_STATUS_BY_EVENT[event.type]}
    duration = event.data.get("duration_ms")
    if isinstance(event, NodeStarted):
        values["started_at"] = event.ts
    elif not isinstance(event, NodeSkipped):
        values["finished_at"] = event.ts
        values["duration_ms"] = duration
        if duration is not None:
            values["fallback_start"] = event.ts - timedelta(milliseconds=duration)
    if isinstance(event, NodeSucceeded):
        values["output"] = jsonable(event.data.get("output"))
    elif isinstance(event, NodeFailed):
        error = event.data.get("error") or {}
        values["error"] = (f"{error.get('type', 'Error')}: "
                           f"{error.get('message', event.message)}")
    elif isinstance(event, (NodeSkipped, NodeCancelled)):
        values["error"] = event.data.get("reason")
    return values


_statements: dict[Any, Any] = {}
_METRIC_FIELDS = ("total_nodes", "successful_nodes", "failed_nodes", "total_time_ms",
                  "avg_node_time_ms", "memory_used_mb")


def _sql(name: str) -> Any:
    """A statement built once per process (building one per event cost more than running
    it); parameters are bound at execution as ``b_<name>`` (or column names for inserts)."""
    stmt = _statements.get(name)
    if stmt is not None:
        return stmt
    from agentic_app.db.models import ExecutionEvent, ExecutionMetrics, NodeExecution

    node, metrics = NodeExecution.__table__, ExecutionMetrics.__table__
    p = sa.bindparam
    stmt = {
        "events_insert": lambda: sa.insert(ExecutionEvent.__table__),
        "node_id": lambda: sa.select(node.c.id).where(
            node.c.execution_id == p("b_execution_id"), node.c.node_id == p("b_node_id"),
            node.c.attempt == p("b_attempt")).limit(1),
        "node_insert": lambda: sa.insert(node),
        "metrics_id": lambda: sa.select(metrics.c.id).where(
            metrics.c.execution_id == p("b_execution_id")).limit(1),
        "metrics_insert": lambda: sa.insert(metrics),
        "metrics_update": lambda: sa.update(metrics).where(metrics.c.id == p("b_id")).values(
            **{f: p(f"b_{f}", type_=metrics.c[f].type) for f in _METRIC_FIELDS}),
    }[name]()
    _statements[name] = stmt
    return stmt


def _node_update(fields: tuple[str, ...]) -> Any:
    """UPDATE of a node row setting ``fields`` (``fallback_start``: started_at if unset)."""
    key = ("node_update", fields)
    stmt = _statements.get(key)
    if stmt is None:
        from agentic_app.db.models import NodeExecution

        node = NodeExecution.__table__
        values: dict[str, Any] = {}
        for f in fields:
            if f == "fallback_start":
                values["started_at"] = sa.func.coalesce(
                    node.c.started_at, sa.bindparam("b_fallback_start",
                                                    type_=node.c.started_at.type))
            else:
                values[f] = sa.bindparam(f"b_{f}", type_=node.c[f].type)
        stmt = sa.update(node).where(node.c.id == sa.bindparam("b_id")).values(**values)
        _statements[key] = stmt
    return stmt


_NODE_EVENTS = (NodeStarted, NodeSucceeded, NodeFailed, NodeSkipped, NodeCancelled)
"""Event types that create or update a ``node_executions`` row."""
