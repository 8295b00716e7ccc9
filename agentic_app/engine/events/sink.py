"""Where executor events go: the EventSink interface and the in-process sinks.

``emit(event)`` is synchronous, must not block and must be thread-safe: the executor calls it
from the event loop and from node threads (``ctx.log``), under a lock, in ``seq`` order.
Sinks that do I/O queue the work (see :class:`~agentic_app.engine.events.db_sink.
DatabaseEventSink`); ``flush()`` waits for it. The executor calls ``flush()`` (when present)
before ``execute`` returns, unless told not to (the queue task stores the last events in its
finish transaction instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from agentic_app.domain.events import Event

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


def _call_each(sinks: Iterable[Any], method: str) -> None:
    for sink in sinks:
        fn = getattr(sink, method, None)
        if callable(fn):
            try:
                fn()
            except Exception:
                logger.exception("event sink %r failed on %s()", sink, method)
