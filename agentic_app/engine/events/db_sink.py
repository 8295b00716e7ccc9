"""DatabaseEventSink: stores an execution's events (rows written by the process's shared
writer thread, or held and stored by the caller in its own final transaction)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from agentic_app.db.engine import Database
from agentic_app.domain.events import Event
from agentic_app.engine.events.event_rows import EventRows
from agentic_app.engine.events.writer import Marker, shared_writer

logger = logging.getLogger(__name__)

EVENT_HOLD_S = 0.05
"""Longest time a holding :class:`DatabaseEventSink` keeps an event before storing (and so
publishing) it: a short execution's events all land in its finish transaction, a long one's
are stored and published at most this late."""


class DatabaseEventSink:
    """Writes events to ``execution_events``, ``node_executions`` and ``execution_metrics``.

    Writes are done by the process's one writer thread (``writer.SharedWriter``, no thread
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
        db: Database,
        *,
        batch_size: int = 200,
        after_commit: Callable[[list[Event]], None] | None = None,
        hold_s: float | None = None,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.after_commit = after_commit
        self.hold_s = hold_s
        self.errors: list[str] = []
        self._emitted = False
        self._rows = EventRows()
        self._lock = threading.Lock()
        self._held: list[Event] = []
        self._hold_deadline = math.inf

    def emit(self, event: Event) -> None:
        """Queue the event for the writer thread (or hold it, see ``hold_s``)."""
        with self._lock:
            if not self.hold_s:
                self._emitted = True
                shared_writer().put(self, event)
                return
            self._held.append(event)
            if len(self._held) == 1:
                self._hold_deadline = time.monotonic() + self.hold_s
                shared_writer().hold_until(self, self._hold_deadline)
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
        writer = shared_writer()
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
        marker = Marker()
        shared_writer().put(self, marker)
        return marker.done.wait(timeout)

    def write_in(self, conn: Any, events: list[Event]) -> None:
        """Insert ``events`` (rows, node rows, metrics) through ``conn``, in the caller's
        transaction; once it is committed call :meth:`published` with the same events."""
        if events:
            self._rows.remember(self._rows.insert(conn, events))

    def in_statement(self, events: list[Event]) -> tuple[tuple[Any, ...], dict[str, str]] | None:
        """PostgreSQL: data-modifying CTEs and their parameters that store ``events`` (an
        attempt's last ones) inside the caller's own statement, or None when they need
        :meth:`write_in` (some of their rows may exist already). Once that statement is
        committed call :meth:`published` with the same events."""
        from agentic_app.engine.events.pg_rows import NEW_ROWS_CTES

        params = self._rows.new_rows_only(events) if events else None
        return None if params is None else (NEW_ROWS_CTES, params)

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
            self.write_batch(events)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush (the shared writer thread lives on; the sink may still be used)."""
        self.flush(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_batch(self, events: list[Event]) -> None:
        """Commit a batch (the writer thread calls this); if it fails, retry event by event
        so good events are kept."""
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
        # the write lock from BEGIN, waited for in fine steps like the queue's own writes
        # (SQLite's coarse busy sleeps would lose every race against them)
        with self.db.write() as conn:
            created = self._rows.insert(conn, events)
        self._rows.remember(created)
        self.published(events)
