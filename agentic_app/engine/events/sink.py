"""Where executor events go: the EventSink interface and its implementations.

``emit(event)`` is synchronous, must not block and must be thread-safe: the executor calls it
from the event loop and from node threads (``ctx.log``), under a lock, in ``seq`` order.
Sinks that do I/O queue the work (see :class:`DatabaseEventSink`); ``flush()`` waits for it.
The executor calls ``flush()`` (when present) before :func:`execute` returns, unless told not
to (the queue task stores the last events in its finish transaction instead).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol, Self, runtime_checkable

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
from agentic_app.engine.per_process import PerProcess

logger = logging.getLogger(__name__)

@runtime_checkable
class EventSink(Protocol):
    """Receives every event of an execution, in seq order."""

    def emit(self, event: Event) -> None:
        """Accept one event without blocking."""
        ...


class MemorySink:
    """Keeps events in a list (tests, the CLI)."""

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self.on_event = on_event

    def emit(self, event: Event) -> None:
        """Append the event (and pass it to ``on_event``, e.g. to print it)."""
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def flush(self) -> None:
        """Nothing to flush."""

    def of_type(self, *types: type[Event]) -> list[Event]:
        """Events that are instances of any of ``types``."""
        return [e for e in self.events if isinstance(e, types)]

    def for_node(self, node_id: str) -> list[Event]:
        """Events about one node."""
        return [e for e in self.events if e.node_id == node_id]

    def types(self) -> list[str]:
        """Type names in emission order."""
        return [e.type for e in self.events]


class CompositeSink:
    """Forwards every event to several sinks; one failing sink does not stop the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        """Emit to each sink in order."""
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception:
                logger.exception("event sink %r failed on %s", sink, event.type)

    def flush(self) -> None:
        """Flush every sink that can be flushed."""
        _call_each(self.sinks, "flush")

    def close(self) -> None:
        """Close every sink that can be closed."""
        _call_each(self.sinks, "close")


EVENT_HOLD_S = 0.05
"""Longest time a holding :class:`DatabaseEventSink` keeps an event before storing (and so
publishing) it: a short execution's events all land in its finish transaction, a long one's
are stored and published at most this late."""


@dataclass
class _Marker:
    done: threading.Event = field(default_factory=threading.Event)


_WAKE = object()
"""Queue item that only wakes the writer thread (a new hold deadline to wait for)."""


class _SharedWriter:
    """The process's one event-writer thread, shared by every :class:`DatabaseEventSink`.

    It drains one FIFO of ``(sink, event | marker)`` items; consecutive events of one sink
    are committed together (up to the sink's ``batch_size``), so each sink's events are
    stored in seq order and a marker is set only once everything queued before it is stored.
    It is also the timer of holding sinks: at a sink's hold deadline it makes the sink
    queue what it holds. Recreated in a forked child (threads do not survive a fork)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.holds: list[tuple[float, int, DatabaseEventSink]] = []
        self.holds_lock = threading.Lock()
        self.wake_at = math.inf
        self._order = itertools.count()
        self.thread = threading.Thread(target=self._run, name="db-event-writer", daemon=True)
        self.thread.start()

    def put(self, sink: DatabaseEventSink, item: Event | _Marker) -> None:
        """Queue one item of ``sink``."""
        self.queue.put((sink, item))

    def hold_until(self, sink: DatabaseEventSink, deadline: float) -> None:
        """Call ``sink.release_due()`` at ``deadline`` (monotonic) unless it ran out of
        held events by then (the call is then a no-op). Wakes the thread only when it would
        otherwise sleep past ``deadline``."""
        with self.holds_lock:
            heapq.heappush(self.holds, (deadline, next(self._order), sink))
            wake = deadline < self.wake_at
            if wake:
                self.wake_at = deadline
        if wake:
            self.queue.put(_WAKE)

    def _release_due(self) -> float | None:
        """Release the holds that are due; the seconds until the next one (None: none)."""
        due: list[DatabaseEventSink] = []
        with self.holds_lock:
            now = time.monotonic()
            while self.holds and self.holds[0][0] <= now:
                due.append(heapq.heappop(self.holds)[2])
            self.wake_at = self.holds[0][0] if self.holds else math.inf
            timeout = self.holds[0][0] - now if self.holds else None
        for sink in due:
            try:
                sink.release_due()
            except Exception:  # never let one sink kill the process's writer
                logger.exception("event hold release failed")
        return timeout

    def _next_batch(self) -> list[tuple[DatabaseEventSink, Event | _Marker]]:
        """Wait for queued items (or a hold deadline) and return what is queued."""
        items: list[Any] = []
        while not items:
            timeout = self._release_due()
            try:
                items.append(self.queue.get(timeout=timeout))
            except queue.Empty:
                continue
            while len(items) < 1000:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            items = [i for i in items if i is not _WAKE]
        return items

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            run: list[Event] = []
            owner: DatabaseEventSink | None = None
            for sink, item in batch:
                if isinstance(item, Event) and (owner is sink or not run) \
                        and len(run) < sink.batch_size:
                    owner = sink
                    run.append(item)
                    continue
                if run and owner is not None:
                    self._write(owner, run)
                run, owner = [], None
                if isinstance(item, _Marker):
                    item.done.set()
                else:
                    owner, run = sink, [item]
            if run and owner is not None:
                self._write(owner, run)

    @staticmethod
    def _write(sink: DatabaseEventSink, events: list[Event]) -> None:
        try:
            sink._write(events)
        except Exception:  # never let one sink kill the process's writer
            logger.exception("event writer failed")


_shared_writer = PerProcess(_SharedWriter).get
"""The process's event writer (see :class:`_SharedWriter`)."""


class DatabaseEventSink:
    """Writes events to ``execution_events``, ``node_executions`` and ``execution_metrics``.

    Writes are done by the process's one writer thread (:class:`_SharedWriter`, no thread
    per execution) from a FIFO queue, so rows are written in seq order; events that arrived
    together are committed in one transaction (up to ``batch_size``). ``flush()`` returns
    once everything emitted before it is committed. ``after_commit(events)`` runs in the
    writer thread after each commit (e.g. publish to Redis only what is stored, so a
    subscriber catching up from the database never misses an event).
    One ``node_executions`` row per (execution, node, attempt).

    With ``hold_s`` the sink *holds* events: an event is queued for the writer at most
    ``hold_s`` after it was emitted (together with those emitted meanwhile), so a short
    execution's events can all be stored by the caller in its own final transaction
    (:meth:`take_held` + :meth:`write_in` + :meth:`published`) - one commit instead of
    several. ``flush()`` queues held events first, so it still stores everything.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        batch_size: int = 200,
        after_commit: Callable[[list[Event]], None] | None = None,
        hold_s: float | None = None,
    ) -> None:
        self.database_url = database_url
        self.batch_size = batch_size
        self.after_commit = after_commit
        self.hold_s = hold_s
        self.errors: list[str] = []
        self._emitted = False
        self._node_rows: dict[tuple[Any, str, int], int] = {}
        self._fresh: set[Any] = set()
        self._lock = threading.Lock()
        self._held: list[Event] = []
        self._hold_deadline = math.inf

    def emit(self, event: Event) -> None:
        """Queue the event for the writer thread (or hold it, see ``hold_s``)."""
        with self._lock:
            if not self.hold_s:
                self._emitted = True
                _shared_writer().put(self, event)
                return
            self._held.append(event)
            if len(self._held) == 1:
                self._hold_deadline = time.monotonic() + self.hold_s
                _shared_writer().hold_until(self, self._hold_deadline)
            elif (len(self._held) >= self.batch_size
                  or time.monotonic() >= self._hold_deadline):
                self._queue_held()

    def release_due(self) -> None:
        """Queue the held events if the oldest has been held for ``hold_s`` (writer thread)."""
        with self._lock:
            if self._held and time.monotonic() >= self._hold_deadline:
                self._queue_held()

    def _queue_held(self) -> None:
        """Hand every held event to the writer, in seq order (caller holds ``_lock``)."""
        writer = _shared_writer()
        for event in self._held:
            writer.put(self, event)
        self._emitted = True
        self._held = []
        self._hold_deadline = math.inf

    def take_held(self) -> list[Event]:
        """Stop holding and return the events held now (every event emitted earlier is
        queued for the writer: :meth:`flush` waits for those). The caller stores the
        returned ones (:meth:`write_in` or :meth:`store`); later events are queued at once."""
        with self._lock:
            held, self._held = self._held, []
            self._hold_deadline = math.inf
            self.hold_s = None
        return held

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every event emitted so far is committed; False on timeout."""
        with self._lock:
            if self._held:
                self._queue_held()
            if not self._emitted:
                return True
        marker = _Marker()
        _shared_writer().put(self, marker)
        return marker.done.wait(timeout)

    def write_in(self, conn: Any, events: list[Event]) -> None:
        """Insert ``events`` (rows, node rows, metrics) through ``conn``, in the caller's
        transaction; once it is committed call :meth:`published` with the same events."""
        if events:
            self._node_rows.update(self._insert(conn, events))

    def published(self, events: list[Event]) -> None:
        """Run ``after_commit`` for ``events`` committed by the caller (never raises)."""
        if events and self.after_commit is not None:
            try:
                self.after_commit(events)
            except Exception:
                logger.exception("after_commit hook failed")

    def store(self, events: list[Event]) -> None:
        """Commit ``events`` now in this thread (own transaction, event by event if the
        batch fails), then run ``after_commit``."""
        if events:
            self._write(events)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush (the shared writer thread lives on; the sink may still be used)."""
        self.flush(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, events: list[Event]) -> None:
        """Commit a batch; if it fails, retry event by event so good events are kept."""
        try:
            self._commit(events)
        except Exception:
            logger.warning("event batch write failed; retrying one by one", exc_info=True)
            for event in events:
                try:
                    self._commit([event])
                except Exception as one_exc:  # keep going: later events still matter
                    msg = f"seq {event.seq} {event.type}: {type(one_exc).__name__}: {one_exc}"
                    self.errors.append(msg)
                    logger.exception("could not store event %s", msg)
                    continue

    def _commit(self, events: list[Event]) -> None:
        """One transaction (SQLAlchemy Core: the ORM's per-object cost was most of a short
        execution's price): the events, their node rows and metrics; then ``after_commit``."""
        from agentic_app.db.engine import write_transaction

        # the write lock from BEGIN, waited for in fine steps like the queue's own writes
        # (SQLite's coarse busy sleeps would lose every race against them)
        with write_transaction(self.database_url) as conn:
            created = self._insert(conn, events)
        self._node_rows.update(created)
        if len(self._node_rows) > 10_000:
            self._node_rows.clear()
        self.published(events)

    def _insert(self, conn: Any, events: list[Event]) -> dict[tuple[Any, str, int], int]:
        """The statements of one batch; returns the node rows it created (key -> id).

        A node's events in the batch become one row write (NodeStarted + NodeSucceeded of a
        short node: one INSERT); a node first seen here by its NodeStarted gets no lookup
        (one row per attempt, and an attempt is run once). The metrics row of an execution
        whose first event (seq 1) this sink stored, at its first ExecutionFinished, is
        inserted without a lookup: only ExecutionFinished writes metrics, and none can be
        stored before that first event.
        """
        created: dict[tuple[Any, str, int], int] = {}
        conn.execute(_sql("events_insert"), [
            dict(execution_id=e.execution_id, seq=e.seq, attempt=e.attempt, ts=e.ts,
                 type=e.type, node_id=e.node_id, level=e.level, message=e.message,
                 data=jsonable(e.data))
            for e in events])
        by_node: dict[tuple[Any, str, int], list[Event]] = {}
        for event in events:
            if event.seq == 1:
                self._fresh.add(event.execution_id)
            if isinstance(event, _NODE_EVENTS):
                by_node.setdefault((event.execution_id, event.node_id, event.attempt),
                                   []).append(event)
        for key, node_events in by_node.items():
            self._upsert_node(conn, key, node_events, created)
        for event in events:
            if isinstance(event, ExecutionFinished):
                fresh = event.execution_id in self._fresh
                self._fresh.discard(event.execution_id)  # a later attempt updates the row
                self._upsert_metrics(conn, event, fresh=fresh)
        if len(self._fresh) > 10_000:
            self._fresh.clear()
        return created

    def _upsert_node(self, conn: Any, key: tuple[Any, str, int], events: list[Event],
                     created: dict) -> None:
        """Write one node row from its events in this batch (in seq order)."""
        row_id = created.get(key) or self._node_rows.get(key)
        if row_id is None and not isinstance(events[0], NodeStarted):
            row_id = conn.execute(_sql("node_id"), {
                "b_execution_id": key[0], "b_node_id": key[1], "b_attempt": key[2]}).scalar()
        values: dict[str, Any] = {}
        for event in events:
            values.update(_node_values(event))
        if "started_at" in values:
            values.pop("fallback_start", None)
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

        m = event.data.get("metrics") or {}
        values = dict(
            total_nodes=int(m.get("total_nodes", 0)),
            successful_nodes=int(m.get("successful_nodes", 0)),
            failed_nodes=int(m.get("failed_nodes", 0)),
            total_time_ms=round(float(m.get("total_time_ms", 0))),
            avg_node_time_ms=round(float(m.get("avg_node_time_ms", 0))),
            memory_used_mb=Decimal(str(round(float(m.get("memory_used_mb", 0)), 2))))
        row_id = None if fresh else conn.execute(
            _sql("metrics_id"), {"b_execution_id": event.execution_id}).scalar()
        if row_id is None:
            conn.execute(_sql("metrics_insert"), dict(execution_id=event.execution_id,
                                                       created_at=utcnow(), **values))
        else:
            conn.execute(_sql("metrics_update"),
                         {"b_id": row_id, **{f"b_{k}": v for k, v in values.items()}})


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


def _call_each(sinks: Iterable[Any], method: str) -> None:
    for sink in sinks:
        fn = getattr(sink, method, None)
        if callable(fn):
            try:
                fn()
            except Exception:
                logger.exception("event sink %r failed on %s()", sink, method)
