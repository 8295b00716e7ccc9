"""Numbering of an attempt's events (contiguous seq) and their hand-over to the sink."""

from __future__ import annotations

import logging
import threading

from agentic_app.domain.events import Event
from agentic_app.engine.events.sink import EventSink

logger = logging.getLogger(__name__)


class Emitter:
    """Numbers events (contiguous seq) and hands them to the sink in seq order, thread-safe."""

    def __init__(self, sink: EventSink | None, execution_id: int | str, attempt: int, seq: int):
        self._sink = sink
        self._lock = threading.Lock()
        self._next = seq
        self._closed = False
        self.execution_id = execution_id
        self.attempt = attempt
        self.last_seq = seq - 1

    def emit(self, event: Event, *, final: bool = False) -> None:
        """Number ``event`` and hand it to the sink; ``final``: no event after this one."""
        with self._lock:
            if self._closed:
                return
            event.execution_id = self.execution_id
            event.attempt = self.attempt
            event.seq = self._next
            self._next += 1
            self.last_seq = event.seq
            self._closed = final
            if self._sink is not None:
                try:
                    self._sink.emit(event)
                except Exception:  # a broken sink must not break the execution
                    logger.exception("event sink failed on %s", event.type)
