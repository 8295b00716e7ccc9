"""Where the edge state of market triggers lives: the store protocol and an in-memory store.

The state record and the edge rules themselves are domain knowledge
(:mod:`agentic_app.domain.triggers.edge`); the database store is
``store.DatabaseTriggerStateStore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from agentic_app.domain.triggers.edge import TriggerState


@runtime_checkable
class TriggerStateStore(Protocol):
    """Where trigger states live between ticks and across restarts."""

    def load_all(self) -> dict[int, TriggerState]:
        """Every stored state by trigger id."""
        ...

    def save_many(self, states: Iterable[TriggerState]) -> None:
        """Insert or replace these states (only changed ones are passed)."""
        ...

    def delete_many(self, trigger_ids: Iterable[int]) -> None:
        """Forget the states of these triggers (removed triggers); unknown ids are ignored."""
        ...


class InMemoryTriggerStateStore:
    """A :class:`TriggerStateStore` in a dict; copies on the way in and out like a database."""

    def __init__(self) -> None:
        self._states: dict[int, dict[str, Any]] = {}
        self.saved = 0
        """Number of states written so far (lets tests check that saving is incremental)."""

    def load_all(self) -> dict[int, TriggerState]:
        """Every stored state by trigger id (fresh copies)."""
        return {tid: TriggerState.from_dict(d) for tid, d in self._states.items()}

    def save_many(self, states: Iterable[TriggerState]) -> None:
        """Insert or replace these states."""
        for state in states:
            self._states[state.trigger_id] = state.to_dict()
            self.saved += 1

    def delete_many(self, trigger_ids: Iterable[int]) -> None:
        """Forget these triggers' states."""
        for tid in trigger_ids:
            self._states.pop(int(tid), None)
