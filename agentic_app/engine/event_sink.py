"""Where executor events go: the EventSink interface and its implementations.

``emit(event)`` is synchronous, must not block and must be thread-safe: the executor calls it
from the event loop and from node threads (``ctx.log``), under a lock, in ``seq`` order.
Sinks that do I/O queue the work (see :class:`DatabaseEventSink`); ``flush()`` waits for it.
The executor calls ``flush()`` (when present) before :func:`execute` returns.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol, Self, runtime_checkable

from agentic_app.domain.events import (
    Event,
    ExecutionFinished,
    NodeCancelled,
    NodeFailed,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    jsonable,
)

logger = logging.getLogger(__name__)

NODE_STATUS_BY_EVENT = {
    "NodeStarted": "running",
    "NodeSucceeded": "succeeded",
    "NodeFailed": "failed",
    "NodeSkipped": "skipped",
    "NodeCancelled": "cancelled",
}
"""node_executions.status written for each node event type."""


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


@dataclass
class _Marker:
    done: threading.Event = field(default_factory=threading.Event)
    stop: bool = False


class DatabaseEventSink:
    """Writes events to ``execution_events``, ``node_executions`` and ``execution_metrics``.

    A single writer thread drains a FIFO queue, so rows are written in seq order; events that
    arrived together are committed in one transaction (up to ``batch_size``). ``flush()``
    returns once everything emitted before it is committed. ``after_commit(events)`` runs in
    the writer thread after each commit (e.g. publish to Redis only what is stored, so a
    subscriber catching up from the database never misses an event).
    One ``node_executions`` row per (execution, node, attempt).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        batch_size: int = 200,
        after_commit: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self.database_url = database_url
        self.batch_size = batch_size
        self.after_commit = after_commit
        self.errors: list[str] = []
        self._queue: queue.SimpleQueue[Event | _Marker] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Queue the event for the writer thread."""
        self._ensure_thread()
        self._queue.put(event)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every event emitted so far is committed; False on timeout."""
        if self._thread is None:
            return True
        marker = _Marker()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush and stop the writer thread (a later emit starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            marker = _Marker(stop=True)
            self._queue.put(marker)
        marker.done.wait(timeout)
        thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._writer, name="db-event-sink", daemon=True
                )
                self._thread.start()

    def _writer(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [item for item in batch if isinstance(item, Event)]
            if events:
                self._write(events)
            stop = False
            for item in batch:
                if isinstance(item, _Marker):
                    item.done.set()
                    stop = stop or item.stop
            if stop:
                return

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
        from sqlmodel import Session

        from agentic_app.db.engine import get_engine

        with Session(get_engine(self.database_url), expire_on_commit=False) as session:
            rows: dict[tuple[Any, str, int], Any] = {}
            for event in events:
                self._apply(session, event, rows)
            session.commit()
        if self.after_commit is not None:
            try:
                self.after_commit(events)
            except Exception:
                logger.exception("after_commit hook failed")

    def _apply(self, session: Any, event: Event, rows: dict) -> None:
        from agentic_app.db.models import ExecutionEvent

        session.add(
            ExecutionEvent(
                execution_id=event.execution_id,
                seq=event.seq,
                attempt=event.attempt,
                ts=event.ts,
                type=event.type,
                node_id=event.node_id,
                level=event.level,
                message=event.message,
                data=jsonable(event.data),
            )
        )
        if isinstance(event, (NodeStarted, NodeSucceeded, NodeFailed, NodeSkipped, NodeCancelled)):
            self._upsert_node(session, event, rows)
        elif isinstance(event, ExecutionFinished):
            self._upsert_metrics(session, event)

    @staticmethod
    def _upsert_node(session: Any, event: Event, rows: dict) -> None:
        from sqlmodel import select

        from agentic_app.db.models import NodeExecution

        key = (event.execution_id, event.node_id, event.attempt)
        row = rows.get(key)
        if row is None:
            row = session.exec(
                select(NodeExecution).where(
                    NodeExecution.execution_id == event.execution_id,
                    NodeExecution.node_id == event.node_id,
                    NodeExecution.attempt == event.attempt,
                )
            ).first()
        if row is None:
            row = NodeExecution(
                execution_id=event.execution_id,
                node_id=event.node_id,
                node_type=str(event.data.get("node_type", "")),
                attempt=event.attempt,
            )
        rows[key] = row
        row.status = NODE_STATUS_BY_EVENT[event.type]
        duration = event.data.get("duration_ms")
        if isinstance(event, NodeStarted):
            row.started_at = event.ts
        elif not isinstance(event, NodeSkipped):
            row.finished_at = event.ts
            row.duration_ms = duration
            if row.started_at is None and duration is not None:
                row.started_at = event.ts - timedelta(milliseconds=duration)
        if isinstance(event, NodeSucceeded):
            row.output = jsonable(event.data.get("output"))
        elif isinstance(event, NodeFailed):
            error = event.data.get("error") or {}
            row.error = f"{error.get('type', 'Error')}: {error.get('message', event.message)}"
        elif isinstance(event, (NodeSkipped, NodeCancelled)):
            row.error = event.data.get("reason")
        session.add(row)

    @staticmethod
    def _upsert_metrics(session: Any, event: Event) -> None:
        from sqlmodel import select

        from agentic_app.db.models import ExecutionMetrics

        m = event.data.get("metrics") or {}
        row = session.exec(
            select(ExecutionMetrics).where(ExecutionMetrics.execution_id == event.execution_id)
        ).first()
        if row is None:
            row = ExecutionMetrics(execution_id=event.execution_id)
        row.total_nodes = int(m.get("total_nodes", 0))
        row.successful_nodes = int(m.get("successful_nodes", 0))
        row.failed_nodes = int(m.get("failed_nodes", 0))
        row.total_time_ms = round(float(m.get("total_time_ms", 0)))
        row.avg_node_time_ms = round(float(m.get("avg_node_time_ms", 0)))
        row.memory_used_mb = Decimal(str(round(float(m.get("memory_used_mb", 0)), 2)))
        session.add(row)


def _call_each(sinks: Iterable[Any], method: str) -> None:
    for sink in sinks:
        fn = getattr(sink, method, None)
        if callable(fn):
            try:
                fn()
            except Exception:
                logger.exception("event sink %r failed on %s()", sink, method)
