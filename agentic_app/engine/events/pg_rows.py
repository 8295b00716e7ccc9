"""PostgreSQL: the new rows of one batch of stored events in one statement.

A batch's events, the ``node_executions`` rows it creates and the ``execution_metrics`` row
of a fresh execution are three INSERTs through SQLAlchemy (the events as an executemany):
three round trips and three statement executions per finished execution. Here they are one
statement: each row set goes as one JSON array parameter, unpacked by
``jsonb_to_recordset`` in a data-modifying CTE, and the node rows' ids come back for
:class:`~agentic_app.engine.events.event_rows.EventRows` to remember. Updates of rows that
already exist stay with EventRows; the column values are exactly those EventRows computes.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

_EVENTS = """
  INSERT INTO execution_events (execution_id, seq, attempt, ts, type, node_id, level,
                                message, data)
  SELECT r.execution_id, r.seq, r.attempt, r.ts, r.type, r.node_id, r.level, r.message, r.data
  FROM jsonb_to_recordset(CAST(:events AS jsonb))
       AS r(execution_id int, seq int, attempt int, ts timestamptz, type varchar,
            node_id varchar, level varchar, message text, data jsonb, ord int)
  ORDER BY r.ord"""
_METRICS = """
  INSERT INTO execution_metrics (execution_id, total_nodes, successful_nodes, failed_nodes,
                                 total_time_ms, avg_node_time_ms, memory_used_mb, created_at)
  SELECT r.execution_id, r.total_nodes, r.successful_nodes, r.failed_nodes,
         r.total_time_ms, r.avg_node_time_ms, r.memory_used_mb, r.created_at
  FROM jsonb_to_recordset(CAST(:metrics AS jsonb))
       AS r(execution_id int, total_nodes int, successful_nodes int, failed_nodes int,
            total_time_ms int, avg_node_time_ms int, memory_used_mb numeric,
            created_at timestamptz)"""
_NODES = """
INSERT INTO node_executions (execution_id, node_id, node_type, status, attempt, started_at,
                             finished_at, duration_ms, output, error)
SELECT r.execution_id, r.node_id, r.node_type, r.status, r.attempt, r.started_at,
       r.finished_at, r.duration_ms, r.output, r.error
FROM jsonb_to_recordset(CAST(:nodes AS jsonb))
     AS r(execution_id int, node_id varchar, node_type varchar, status varchar, attempt int,
          started_at timestamptz, finished_at timestamptz, duration_ms float8, output jsonb,
          error text, ord int)
ORDER BY r.ord"""
_NEW_ROWS = sa.text(f"WITH ev AS ({_EVENTS}), met AS ({_METRICS}) {_NODES} "
                    "RETURNING id, execution_id, node_id, attempt")
NEW_ROWS_CTES = tuple(sa.text(sql).columns().cte(name) for name, sql in (
    ("new_events", _EVENTS), ("new_metrics", _METRICS), ("new_nodes", _NODES)))
"""The same three inserts as data-modifying CTEs, for another statement to embed
(``Select.add_cte``) with :func:`new_rows_params`: the queue's finish on PostgreSQL stores
an attempt's last events in its own statement. The node rows' ids are not returned."""


def _plain(value: Any) -> Any:
    """Datetimes as ISO text (with their offset) and Decimals as text, for the JSON array."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _array(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array; ``ord`` keeps their order (ids are drawn in it)."""
    return json.dumps([{**{k: _plain(v) for k, v in row.items()}, "ord": i}
                       for i, row in enumerate(rows)])


def new_rows_params(events: list[dict[str, Any]], nodes: list[dict[str, Any]],
                    metrics: list[dict[str, Any]]) -> dict[str, str]:
    """The parameters of the inserts (:data:`NEW_ROWS_CTES` or :func:`insert_new_rows`) of
    these event rows, new node rows and new metrics rows (column -> value dicts, as
    EventRows builds them)."""
    return {"events": _array(events), "nodes": _array(nodes), "metrics": _array(metrics)}


def insert_new_rows(conn: sa.Connection, events: list[dict[str, Any]],
                    nodes: list[dict[str, Any]], metrics: list[dict[str, Any]]
                    ) -> dict[tuple[Any, str, int], int]:
    """Insert the event rows, new node rows and new metrics rows (column -> value dicts, as
    EventRows builds them) in one statement; returns the node rows' ids by (execution id,
    node id, attempt)."""
    rows = conn.execute(_NEW_ROWS, new_rows_params(events, nodes, metrics)).all()
    return {(row.execution_id, row.node_id, row.attempt): row.id for row in rows}
