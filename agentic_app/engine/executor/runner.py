"""Async DAG executor: runs one attempt of a workflow execution and emits its events.

Modules: this one (the entry points and the rules), ``attempt`` (the run of one attempt),
``attempt_events`` (what each event says), ``results`` (node and execution results, outcome,
metrics), ``node_errors`` (exceptions -> AgenticError), ``emitter`` (seq numbering).

Rules:

* A node starts as soon as every upstream node is resolved (dependency counters, no level
  barrier); independent branches run concurrently. ``async def run`` runs on the event loop,
  sync ``run`` in a per-execution thread pool (``max_threads``, default 8; created only when
  a sync node starts).
* Join semantics. An incoming edge is *live* when its source succeeded and the edge has no
  ``branch`` label or the label the source returned in ``output["branch"]``. A node with
  ``join="all"`` (default) runs only when every incoming edge is live; with ``join="any"``
  when at least one is (merge after an if/else). Otherwise it is skipped, and so, in turn,
  are nodes left without live inputs. So a node fed by a condition's untaken branch is
  skipped even if it has other live inputs - the safe default for order nodes.
* Inputs: ``{upstream_id: output}`` of the live incoming edges; ``ctx.ancestors`` has every
  succeeded ancestor's output; ``ctx.trigger_payload`` the trigger's payload.
* Timeouts: per node ``params.timeout_seconds`` or the type's ``timeout_default`` (60 s) ->
  NodeTimeoutError (retryable); per execution ``execution_timeout_s`` -> running nodes
  cancelled (NodeCancelled), execution failed with NodeTimeoutError.
* Failure policy ("drain"): when a node fails, its downstream closure is skipped at once and
  no further node starts; nodes already running are not interrupted (a half-placed order is
  worse than a finished one) and finish within the execution timeout; nodes that never
  started are skipped. The execution fails; ``error_retryable`` is true only when every
  error is retryable.
* Errors: AgenticError kept as is; MemoryError -> MemoryLimitError; TimeoutError ->
  NodeTimeoutError; pydantic ValidationError -> InvalidInputError; anything else ->
  FatalError naming the original type.
* Memory: a :class:`MemoryGuard` watches RSS; past ``memory_limit_mb`` the running nodes fail
  with MemoryLimitError and the execution stops. Sync nodes cannot be killed: they are told
  to stop (``ctx.check_cancelled()`` / ``ctx.sleep()`` raise) and get ``thread_grace_s`` to
  exit before :func:`execute` returns.
* Cancellation: ``cancel_event`` (threading.Event or asyncio.Event) set -> running nodes
  cancelled, the rest skipped, status ``cancelled`` (never retried).
* Events: ExecutionStarted, then NodeStarted / NodeLog / NodeSucceeded | NodeFailed |
  NodeSkipped | NodeCancelled, then ExecutionFinished; ``seq`` is contiguous from
  ``first_seq`` (a retry passes the stored max seq + 1). When :func:`execute` returns the
  sink has been flushed (unless ``flush_sink=False``: the caller then stores what is left).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agentic_app.domain.events import utcnow
from agentic_app.domain.workflow import WorkflowSpec
from agentic_app.engine.events.sink import EventSink
from agentic_app.engine.executor.attempt import AttemptRun, RunOptions
from agentic_app.engine.executor.emitter import Emitter
from agentic_app.engine.executor.memory_guard import DEFAULT_INTERVAL_S
from agentic_app.engine.executor.results import ExecutionResult
from agentic_app.nodes.base import NodeRegistry, default_registry

DEFAULT_MAX_THREADS = 8
"""Threads per execution for sync node code (a handful of branches really in parallel)."""

DEFAULT_EXECUTION_TIMEOUT_S = 300.0
"""Per-execution time budget (QUEUE_CONFIG.job_timeout_seconds)."""

DEFAULT_MEMORY_LIMIT_MB = 500.0
"""Per-execution memory limit (LIMITS.memory_limit_mb)."""

DEFAULT_THREAD_GRACE_S = 1.0
"""How long execute() waits for stopped sync nodes' threads to exit before returning."""


async def execute(
    spec: WorkflowSpec | Mapping[str, Any],
    *,
    registry: NodeRegistry | None = None,
    services: Any = None,
    sink: EventSink | None = None,
    execution_id: int | str = 0,
    user_id: int | None = None,
    workflow_id: int | None = None,
    trigger_payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    attempt: int = 1,
    first_seq: int = 1,
    execution_timeout_s: float = DEFAULT_EXECUTION_TIMEOUT_S,
    memory_limit_mb: float | None = DEFAULT_MEMORY_LIMIT_MB,
    cancel_event: threading.Event | asyncio.Event | None = None,
    max_threads: int = DEFAULT_MAX_THREADS,
    memory_interval_s: float = DEFAULT_INTERVAL_S,
    thread_grace_s: float = DEFAULT_THREAD_GRACE_S,
    flush_sink: bool = True,
) -> ExecutionResult:
    """Run one attempt of a workflow and return its result; never raises for node failures.

    ``now`` (aware) is the execution's clock given to nodes (default: wall clock).
    ``memory_limit_mb=None`` only measures memory. Invalid workflows finish ``failed`` with a
    WorkflowValidationError (fatal).
    """
    if now is None:
        now = utcnow()
    elif now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    run = AttemptRun(
        registry=registry or default_registry, services=services,
        emitter=Emitter(sink, execution_id, attempt, first_seq), cancel_event=cancel_event,
        options=RunOptions(
            execution_id=execution_id, user_id=user_id, workflow_id=workflow_id,
            trigger_payload=dict(trigger_payload or {}), now=now, attempt=attempt,
            execution_timeout_s=execution_timeout_s, memory_limit_mb=memory_limit_mb,
            max_threads=max_threads, memory_interval_s=memory_interval_s,
            thread_grace_s=thread_grace_s))
    result = await run.go(spec)
    result.first_seq = first_seq
    flush = getattr(sink, "flush", None) if flush_sink else None
    if callable(flush):
        await asyncio.to_thread(flush)
    return result


_loops = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's reusable event loop (a new one in a forked child or once closed)."""
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed() or getattr(_loops, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        _loops.loop, _loops.pid = loop, os.getpid()
    return loop


def execute_sync(spec: WorkflowSpec | Mapping[str, Any], **kwargs: Any) -> ExecutionResult:
    """:func:`execute` from synchronous code (RQ job functions, the CLI).

    Runs on an event loop kept per thread and reused by the next call (creating and closing a
    loop per execution was a large part of a short execution's cost); like ``asyncio.run``,
    tasks left over by the execution are cancelled and async generators finalised after it.
    Raises RuntimeError when called from a running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("execute_sync() cannot be called from a running event loop")
    loop = _thread_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(execute(spec, **kwargs))
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still pending on ``loop`` and wait for them (as ``asyncio.run``)."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
