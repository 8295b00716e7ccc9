"""The process's one event-writer thread, shared by every database event sink: it stores
queued events in order and is the timer of sinks that hold events (see db_sink)."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentic_app.domain.events import Event
from agentic_app.engine.per_process import PerProcess

logger = logging.getLogger(__name__)


class WriterClient(Protocol):
    """What the writer needs of a sink (``DatabaseEventSink`` is one)."""

    batch_size: int
    """Most events the writer commits together for this sink."""

    def write_batch(self, events: list[Event]) -> None:
        """Store ``events`` (one transaction; the writer thread calls it)."""
        ...

    def release_due(self) -> None:
        """Queue the held events whose hold time is over (the writer thread calls it)."""
        ...


@dataclass
class Marker:
    """Queued after a sink's events: set once everything queued before it is stored."""

    done: threading.Event = field(default_factory=threading.Event)


_WAKE = object()
"""Queue item that only wakes the writer thread (a new hold deadline to wait for)."""


class SharedWriter:
    """The process's one event-writer thread, shared by every database event sink
    (:class:`WriterClient`).

    It drains one FIFO of ``(sink, event | marker)`` items; consecutive events of one sink
    are committed together (up to the sink's ``batch_size``), so each sink's events are
    stored in seq order and a marker is set only once everything queued before it is stored.
    It is also the timer of holding sinks: at a sink's hold deadline it makes the sink
    queue what it holds. Recreated in a forked child (threads do not survive a fork)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.holds: list[tuple[float, int, WriterClient]] = []
        self.holds_lock = threading.Lock()
        self.wake_at = math.inf
        self._order = itertools.count()
        self.thread = threading.Thread(target=self._run, name="db-event-writer", daemon=True)
        self.thread.start()

    def put(self, sink: WriterClient, item: Event | Marker) -> None:
        """Queue one item of ``sink``."""
        self.queue.put((sink, item))

    def hold_until(self, sink: WriterClient, deadline: float) -> None:
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
        due: list[WriterClient] = []
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

    def _next_batch(self) -> list[tuple[WriterClient, Event | Marker]]:
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
            owner: WriterClient | None = None
            for sink, item in batch:
                if isinstance(item, Event) and (owner is sink or not run) \
                        and len(run) < sink.batch_size:
                    owner = sink
                    run.append(item)
                    continue
                if run and owner is not None:
                    self._write(owner, run)
                run, owner = [], None
                if isinstance(item, Marker):
                    item.done.set()
                else:
                    owner, run = sink, [item]
            if run and owner is not None:
                self._write(owner, run)

    @staticmethod
    def _write(sink: WriterClient, events: list[Event]) -> None:
        try:
            sink.write_batch(events)
        except Exception:  # never let one sink kill the process's writer
            logger.exception("event writer failed")


shared_writer = PerProcess(SharedWriter).get
"""The process's event writer (see :class:`SharedWriter`)."""
