"""What an attempt produced: per-node results, the execution result, and the summary of
its outcome (status, error, retryable, metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agentic_app.domain.errors import AgenticError
from agentic_app.domain.events import jsonable

ExecutionOutcome = Literal["completed", "failed", "cancelled"]


@dataclass
class NodeResult:
    """What happened to one node in this attempt."""

    node_id: str
    node_type: str
    status: str = "pending"  # pending | running | succeeded | failed | skipped | cancelled
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the CLI's ``nodes`` entries)."""
        return {
            "id": self.node_id,
            "type": self.node_type,
            "status": self.status,
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
            "output": jsonable(self.output),
            "error": self.error,
            "error_type": self.error_type,
            "reason": self.reason,
        }


@dataclass
class ExecutionResult:
    """Outcome of one attempt: status, per-node results (topological order), error, metrics."""

    execution_id: int | str
    status: ExecutionOutcome
    nodes: dict[str, NodeResult] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    error_retryable: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    first_seq: int = 1
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        """True when the execution completed."""
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"status", "nodes": [...], "metrics", ...}``."""
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "attempt": self.attempt,
            "error": self.error,
            "error_type": self.error_type,
            "error_retryable": self.error_retryable,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "metrics": jsonable(self.metrics),
        }


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: status, the error shown for it, and whether a retry may help."""

    status: ExecutionOutcome
    error: AgenticError | None
    error_text: str | None
    retryable: bool


def outcome_of(node_errors: list[tuple[str, AgenticError]], abort_reason: str | None,
               abort_error: AgenticError | None) -> Outcome:
    """The attempt's outcome: cancelled when aborted by a cancel; failed (first node error,
    else the abort's) when a node failed or the run was aborted; else completed. Retryable
    only when failed and every error is retryable."""
    errors = [e for _, e in node_errors]
    if abort_error is not None:
        errors.append(abort_error)
    if abort_reason == "cancel":
        status: ExecutionOutcome = "cancelled"
        error: AgenticError | None = abort_error
        error_text = error.message if error else None
    elif node_errors:
        status = "failed"
        node_id, error = node_errors[0]
        error_text = f"node {node_id!r} failed: {error.message}"
    elif abort_error is not None:
        status, error = "failed", abort_error
        error_text = error.message
    else:
        status, error, error_text = "completed", None, None
    retryable = status == "failed" and all(e.retryable for e in errors)
    return Outcome(status=status, error=error, error_text=error_text, retryable=retryable)


def metrics_of(results: dict[str, NodeResult], *, total_time_ms: float, peak_mb: float,
               max_parallel: int) -> dict[str, Any]:
    """The attempt's metrics (stored with ExecutionFinished): node counts by status, total
    and average node time, peak memory, most nodes running at once."""
    durations = [r.duration_ms for r in results.values() if r.duration_ms is not None]
    counts = {
        s: sum(1 for r in results.values() if r.status == s)
        for s in ("succeeded", "failed", "skipped", "cancelled")
    }
    return {
        "total_nodes": len(results),
        "successful_nodes": counts["succeeded"],
        "failed_nodes": counts["failed"],
        "skipped_nodes": counts["skipped"],
        "cancelled_nodes": counts["cancelled"],
        "total_time_ms": round(total_time_ms, 3),
        "avg_node_time_ms": round(sum(durations) / len(durations), 3) if durations else 0.0,
        "memory_used_mb": round(peak_mb, 2),
        "max_parallel_nodes": max_parallel,
    }
