"""Execution events (past tense) and their JSON form.

Every event has the same flat shape, which is what the ``execution_events`` table stores and
what Redis pub/sub carries to browsers::

    {"type": "NodeSucceeded", "execution_id": 7, "seq": 4, "ts": "2024-...+00:00",
     "attempt": 1, "node_id": "rsi", "level": "info", "message": "...", "data": {...}}

``seq`` is per execution, 1-based, strictly increasing across attempts (the executor assigns
it). ``ts`` is the wall-clock time (aware UTC) at which the event happened. Event-specific
details live in ``data`` (see each class). :func:`jsonable` makes any value JSON-safe.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
"""Allowed event levels, least severe first."""


def utcnow() -> datetime:
    """Current wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(kw_only=True)
class Event:
    """Base of every execution event; ``type`` is the class name."""

    execution_id: int | str
    seq: int = 0
    ts: datetime = field(default_factory=utcnow)
    attempt: int = 1
    node_id: str | None = None
    level: str = "info"
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.ts.tzinfo is None:
            raise ValueError("event ts must be timezone-aware")

    @property
    def type(self) -> str:
        """The event type name (the class name)."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict form (``ts`` as ISO 8601)."""
        return {
            "type": self.type,
            "execution_id": self.execution_id,
            "seq": self.seq,
            "ts": self.ts.astimezone(UTC).isoformat(),
            "attempt": self.attempt,
            "node_id": self.node_id,
            "level": self.level,
            "message": self.message,
            "data": jsonable(self.data),
        }

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


@dataclass(kw_only=True)
class ExecutionStarted(Event):
    """An attempt of an execution started. data: workflow_id, user_id, node_count, now,
    trigger_payload."""


@dataclass(kw_only=True)
class NodeStarted(Event):
    """A node started running. data: node_type, version, timeout_s."""


@dataclass(kw_only=True)
class NodeLog(Event):
    """A node wrote a log line (``ctx.log``). data: whatever the node passed."""


@dataclass(kw_only=True)
class NodeSucceeded(Event):
    """A node finished. data: node_type, duration_ms, output (JSON-safe), branch if any."""


@dataclass(kw_only=True)
class NodeFailed(Event):
    """A node raised. data: node_type, duration_ms, error ({type, message, ...}), retryable."""


@dataclass(kw_only=True)
class NodeSkipped(Event):
    """A node did not run (upstream failed, branch not taken, execution stopped).
    data: node_type, reason."""


@dataclass(kw_only=True)
class NodeCancelled(Event):
    """A running node was stopped (cancel request, execution timeout).
    data: node_type, duration_ms, reason."""


@dataclass(kw_only=True)
class ExecutionFinished(Event):
    """An attempt ended. data: status (completed|failed|cancelled), error, error_type,
    error_retryable, metrics."""


NODE_STATUS_BY_EVENT = {
    "NodeStarted": "running",
    "NodeSucceeded": "succeeded",
    "NodeFailed": "failed",
    "NodeSkipped": "skipped",
    "NodeCancelled": "cancelled",
}
"""The node status each node event type stands for (node rows, the live monitor)."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ExecutionStarted,
        NodeStarted,
        NodeLog,
        NodeSucceeded,
        NodeFailed,
        NodeSkipped,
        NodeCancelled,
        ExecutionFinished,
    )
}
"""Event classes by type name."""


def event_from_dict(raw: Mapping[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output (or a parsed JSON message)."""
    try:
        cls = EVENT_TYPES[raw["type"]]
    except KeyError:
        raise ValueError(f"unknown event type {raw.get('type')!r}") from None
    ts = raw["ts"]
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return cls(
        execution_id=raw["execution_id"],
        seq=int(raw["seq"]),
        ts=ts,
        attempt=int(raw.get("attempt", 1)),
        node_id=raw.get("node_id"),
        level=raw.get("level", "info"),
        message=raw.get("message", ""),
        data=dict(raw.get("data") or {}),
    )


def event_from_json(text: str | bytes) -> Event:
    """Rebuild an event from :meth:`Event.to_json` text."""
    return event_from_dict(json.loads(text))


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``: numpy scalars/arrays, datetimes, Decimals, enums, sets
    and pydantic models converted; NaN and infinities become None; unknown objects ``str()``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, Enum):
        return jsonable(value.value)
    if hasattr(value, "model_dump"):  # pydantic model
        return jsonable(value.model_dump())
    if hasattr(value, "tolist"):  # numpy array or scalar
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        return jsonable(value.item())
    return str(value)
