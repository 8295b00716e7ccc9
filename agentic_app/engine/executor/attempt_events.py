"""The events of one attempt as the executor emits them: what each one says and carries
(the data the sink stores, the stream forwards and the UI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentic_app.domain.errors import AgenticError
from agentic_app.domain.events import (
    ExecutionFinished,
    ExecutionStarted,
    NodeCancelled,
    NodeFailed,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    jsonable,
)
from agentic_app.engine.executor.results import NodeResult, Outcome
from agentic_app.nodes.base import NodeType


def _ms(duration_ms: float | None) -> float | None:
    return None if duration_ms is None else round(duration_ms, 3)


def execution_started(execution_id: int | str, attempt: int, *, workflow_id: int | None,
                      user_id: int | None, node_count: int | None, now: datetime,
                      trigger_payload: dict[str, Any]) -> ExecutionStarted:
    """The attempt began (first event of every attempt)."""
    return ExecutionStarted(
        execution_id=execution_id,
        message=f"execution {execution_id} attempt {attempt} started",
        data={"workflow_id": workflow_id, "user_id": user_id, "node_count": node_count,
              "now": now.isoformat(), "trigger_payload": jsonable(trigger_payload)})


def node_started(execution_id: int | str, node_id: str, cls: type[NodeType],
                 timeout_s: float) -> NodeStarted:
    """A node began to run, with its type, version and time budget."""
    return NodeStarted(
        execution_id=execution_id, node_id=node_id,
        message=f"node {node_id!r} ({cls.type_name}) started",
        data={"node_type": cls.type_name, "version": cls.version, "timeout_s": timeout_s})


def node_succeeded(execution_id: int | str, res: NodeResult,
                   output: dict[str, Any]) -> NodeSucceeded:
    """A node returned ``output`` (its branch, if any, repeated on its own)."""
    data: dict[str, Any] = {"node_type": res.node_type, "duration_ms": _ms(res.duration_ms)}
    if "branch" in output:
        data["branch"] = output["branch"]
    data["output"] = jsonable(output)
    return NodeSucceeded(
        execution_id=execution_id, node_id=res.node_id,
        message=f"node {res.node_id!r} succeeded in {res.duration_ms:.0f} ms", data=data)


def node_failed(execution_id: int | str, res: NodeResult, error: AgenticError) -> NodeFailed:
    """A node failed with ``error`` (its type and message; a traceback never reaches a
    user-visible event: the executor logs it on the server)."""
    data: dict[str, Any] = {"node_type": res.node_type, "duration_ms": _ms(res.duration_ms),
                            "error": error.to_dict(), "retryable": error.retryable}
    return NodeFailed(
        execution_id=execution_id, node_id=res.node_id, level="error",
        message=f"node {res.node_id!r} failed: {error.message}", data=data)


def node_skipped(execution_id: int | str, res: NodeResult, reason: str) -> NodeSkipped:
    """A node will not run, and why."""
    return NodeSkipped(
        execution_id=execution_id, node_id=res.node_id,
        message=f"node {res.node_id!r} skipped: {reason}",
        data={"node_type": res.node_type, "reason": reason})


def node_cancelled(execution_id: int | str, res: NodeResult) -> NodeCancelled:
    """A running node was stopped (``res.reason`` says why)."""
    return NodeCancelled(
        execution_id=execution_id, node_id=res.node_id, level="warning",
        message=f"node {res.node_id!r} cancelled: {res.reason}",
        data={"node_type": res.node_type, "duration_ms": _ms(res.duration_ms),
              "reason": res.reason})


def execution_finished(execution_id: int | str, outcome: Outcome,
                       metrics: dict[str, Any]) -> ExecutionFinished:
    """The attempt ended: status, error, whether a retry may help, and its metrics."""
    status, error, text = outcome.status, outcome.error, outcome.error_text
    level = "info" if status == "completed" else ("warning" if status == "cancelled" else "error")
    return ExecutionFinished(
        execution_id=execution_id, level=level,
        message=f"execution {status}" + (f": {text}" if text else ""),
        data={"status": status, "error": text,
              "error_type": type(error).__name__ if error else None,
              "error_retryable": outcome.retryable,
              "error_detail": error.to_dict() if error else None, "metrics": metrics})
