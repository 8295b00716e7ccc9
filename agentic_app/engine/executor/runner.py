"""Async DAG executor: runs one attempt of a workflow execution and emits its events.

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
import inspect
import logging
import os
import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from agentic_app.domain.errors import (
    AgenticError,
    CancelledError,
    FatalError,
    InvalidInputError,
    MemoryLimitError,
    NodeTimeoutError,
)
from agentic_app.domain.events import (
    Event,
    ExecutionFinished,
    ExecutionStarted,
    NodeCancelled,
    NodeFailed,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    jsonable,
    utcnow,
)
from agentic_app.domain.workflow import (
    WorkflowSpec,
    WorkflowValidationError,
    split_common_params,
    validate_workflow,
)
from agentic_app.engine.events.sink import EventSink
from agentic_app.engine.executor.memory_guard import DEFAULT_INTERVAL_S, MemoryGuard
from agentic_app.nodes.base import NodeContext, NodeRegistry, NodeType, default_registry

logger = logging.getLogger(__name__)

DEFAULT_MAX_THREADS = 8
"""Threads per execution for sync node code (a handful of branches really in parallel)."""

DEFAULT_EXECUTION_TIMEOUT_S = 300.0
"""Per-execution time budget (QUEUE_CONFIG.job_timeout_seconds)."""

DEFAULT_MEMORY_LIMIT_MB = 500.0
"""Per-execution memory limit (LIMITS.memory_limit_mb)."""

DEFAULT_THREAD_GRACE_S = 1.0
"""How long execute() waits for stopped sync nodes' threads to exit before returning."""

TRACEBACK_FRAMES = 8
"""Innermost frames kept in NodeFailed data for unexpected (non-AgenticError) exceptions."""

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


def classify_error(exc: BaseException, *, memory_limit_mb: float | None = None) -> AgenticError:
    """Map any exception raised by node code onto the AgenticError tree."""
    if isinstance(exc, AgenticError):
        return exc
    if isinstance(exc, MemoryError):
        limit = f" of {memory_limit_mb:g} MB" if memory_limit_mb else ""
        detail = f" ({exc})" if str(exc) else ""
        return MemoryLimitError(f"out of memory: allocation past the memory limit{limit}{detail}")
    if isinstance(exc, TimeoutError):
        return NodeTimeoutError(f"timed out ({type(exc).__name__}: {exc})")
    if isinstance(exc, ValidationError):
        errs = exc.errors()
        where = ".".join(str(p) for p in errs[0]["loc"]) if errs and errs[0]["loc"] else None
        return InvalidInputError(f"invalid input: {errs[0]['msg'] if errs else exc}", field=where)
    return FatalError(f"{type(exc).__name__}: {exc}")


def _release_traceback(exc: BaseException | None, *, detach: bool = True) -> None:
    """Drop the locals of a finished node's frames (and, with ``detach``, the traceback), so
    a failed node's memory - e.g. chunks allocated before a MemoryError - is freed now, not
    at the next garbage collection."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
            if detach:
                exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _release_frames(future: Future) -> None:
    """Done-callback of node thread futures: free the locals of a raised exception's frames
    (also for nodes nobody awaits any more: timed out or cancelled)."""
    if not future.cancelled():
        _release_traceback(future.exception(), detach=False)


class _Emitter:
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
    run = _Run(
        registry=registry or default_registry,
        services=services,
        emitter=_Emitter(sink, execution_id, attempt, first_seq),
        execution_id=execution_id,
        user_id=user_id,
        workflow_id=workflow_id,
        trigger_payload=dict(trigger_payload or {}),
        now=now,
        attempt=attempt,
        execution_timeout_s=execution_timeout_s,
        memory_limit_mb=memory_limit_mb,
        cancel_event=cancel_event,
        max_threads=max_threads,
        memory_interval_s=memory_interval_s,
        thread_grace_s=thread_grace_s,
    )
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


class _Run:
    """State of one attempt; see the module docstring for the rules."""

    def __init__(self, **opts: Any):
        self.registry: NodeRegistry = opts["registry"]
        self.services = opts["services"]
        self.emitter: _Emitter = opts["emitter"]
        self.execution_id = opts["execution_id"]
        self.user_id = opts["user_id"]
        self.workflow_id = opts["workflow_id"]
        self.trigger_payload: dict[str, Any] = opts["trigger_payload"]
        self.now: datetime = opts["now"]
        self.attempt: int = opts["attempt"]
        self.timeout_s: float = opts["execution_timeout_s"]
        self.memory_limit_mb: float | None = opts["memory_limit_mb"]
        self.cancel_event = opts["cancel_event"]
        self.max_threads: int = opts["max_threads"]
        self.memory_interval_s: float = opts["memory_interval_s"]
        self.thread_grace_s: float = opts["thread_grace_s"]
        self.results: dict[str, NodeResult] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.contexts: dict[str, NodeContext] = {}
        self.tasks: dict[asyncio.Task, str] = {}
        self.thread_futures: dict[str, Future] = {}
        self.t_start: dict[str, float] = {}
        self.node_errors: list[tuple[str, AgenticError]] = []
        self.tracebacks: dict[str, str] = {}
        self.abort_reason: str | None = None
        self.abort_error: AgenticError | None = None
        self.stopping = False
        self.max_parallel = 0

    # -- top level -------------------------------------------------------------------------

    async def go(self, raw_spec: WorkflowSpec | Mapping[str, Any]) -> ExecutionResult:
        started_at = utcnow()
        t0 = time.perf_counter()
        self.emitter.emit(
            ExecutionStarted(
                execution_id=self.execution_id,
                message=f"execution {self.execution_id} attempt {self.attempt} started",
                data={
                    "workflow_id": self.workflow_id,
                    "user_id": self.user_id,
                    "node_count": _node_count(raw_spec),
                    "now": self.now.isoformat(),
                    "trigger_payload": jsonable(self.trigger_payload),
                },
            )
        )
        peak_mb = 0.0
        try:
            self.spec = validate_workflow(raw_spec, self.registry)
        except WorkflowValidationError as exc:
            self.abort_error = exc
        else:
            peak_mb = await self._run_graph()
        return self._finish_execution(started_at, t0, peak_mb)

    async def _run_graph(self) -> float:
        loop = asyncio.get_running_loop()
        self.abort = loop.create_future()
        self.order = self.spec.topological_order()
        self.position = {n: i for i, n in enumerate(self.order)}
        self.types: dict[str, type[NodeType]] = {}
        for node in self.spec.nodes:
            cls = self.registry.get(node.type)
            assert cls is not None  # validated
            self.types[node.id] = cls
            self.results[node.id] = NodeResult(node.id, node.type, attempt=self.attempt)
        self.succ = {n: self.spec.downstream(n) for n in self.order}
        self.remaining = {n: len(self.spec.upstream(n)) for n in self.order}

        def over_limit(used_mb: float) -> None:
            loop.call_soon_threadsafe(self._set_abort, "memory", used_mb)

        guard = MemoryGuard(self.memory_limit_mb, over_limit, interval_s=self.memory_interval_s)
        self._pool: ThreadPoolExecutor | None = None
        watcher = None
        if self.cancel_event is not None:
            watcher = asyncio.create_task(self._watch_cancel(self.cancel_event))
        if self.cancel_event is not None and self.cancel_event.is_set():
            self._set_abort("cancel", None)
        guard.start()
        try:
            await self._schedule(loop)
            await self._wait_for_stopped_threads()
        finally:
            if watcher is not None:
                watcher.cancel()
            peak_mb = guard.stop()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        return peak_mb

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The execution's thread pool for sync nodes, created when the first one starts."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="node")
        return self._pool

    async def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self.timeout_s
        ready = [n for n in self.order if self.remaining[n] == 0]
        while True:
            if self.abort.done():
                await self._abort(*self.abort.result())
                break
            if not self.stopping:
                for node_id in ready:
                    self._start(node_id)
            ready = []
            if not self.tasks:
                break
            self.max_parallel = max(self.max_parallel, len(self.tasks))
            left = deadline - loop.time()
            done: set[asyncio.Future] = set()
            if left > 0:
                done, _ = await asyncio.wait(
                    [*self.tasks, self.abort],
                    timeout=left,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if self.abort in done:
                continue  # handled at the top of the loop
            if not done:
                self._set_abort("timeout", None)
                continue
            # nodes finishing together are recorded in topological order (deterministic events)
            for task in sorted(done, key=lambda t: self.position[self.tasks[t]]):  # type: ignore[index]
                node_id = self.tasks.pop(task)  # type: ignore[arg-type]
                self._record(node_id, task.result())
                ready.extend(self._resolve_successors(node_id))
        reason = self._leftover_reason()
        for node_id in self.order:
            if self.results[node_id].status == "pending":
                self._skip(node_id, reason)

    def _set_abort(self, reason: str, value: Any) -> None:
        if not self.abort.done():
            self.abort.set_result((reason, value))

    async def _watch_cancel(self, event: threading.Event | asyncio.Event) -> None:
        if isinstance(event, asyncio.Event):
            await event.wait()
        else:
            while not event.is_set():
                await asyncio.sleep(0.02)
        self._set_abort("cancel", None)

    # -- one node --------------------------------------------------------------------------

    def _start(self, node_id: str) -> None:
        node = self.spec.node(node_id)
        cls = self.types[node_id]
        timeout = float(node.params.get("timeout_seconds") or cls.timeout_default)
        ancestors = {a: self.outputs[a] for a in self.spec.ancestors(node_id) if a in self.outputs}
        ctx = NodeContext(
            execution_id=self.execution_id,
            node_id=node_id,
            node_type=cls.type_name,
            user_id=self.user_id,
            workflow_id=self.workflow_id,
            attempt=self.attempt,
            trigger_payload=self.trigger_payload,
            now=self.now,
            services=self.services,
            ancestors=ancestors,
            emit=self.emitter.emit,
        )
        self.contexts[node_id] = ctx
        res = self.results[node_id]
        res.status = "running"
        res.started_at = utcnow()
        self.t_start[node_id] = time.perf_counter()
        self.emitter.emit(
            NodeStarted(
                execution_id=self.execution_id,
                node_id=node_id,
                message=f"node {node_id!r} ({cls.type_name}) started",
                data={
                    "node_type": cls.type_name,
                    "version": cls.version,
                    "timeout_s": timeout,
                },
            )
        )
        task = asyncio.create_task(self._run_node(node_id, cls, ctx, timeout), name=node_id)
        self.tasks[task] = node_id

    async def _run_node(
        self, node_id: str, cls: type[NodeType], ctx: NodeContext, timeout: float
    ) -> tuple[bool, Any]:
        """(True, output) or (False, AgenticError); raises only asyncio.CancelledError."""
        node = self.spec.node(node_id)
        budget = asyncio.timeout(timeout)
        try:
            own, _common = split_common_params(node.params, cls.Params)
            params = cls.Params.model_validate(own)
            inputs = {
                e.source: self.outputs[e.source]
                for e in self.spec.incoming(node_id)
                if self._edge_live(e.source, e.branch)
            }
            instance = cls()
            async with budget:
                if inspect.iscoroutinefunction(instance.run):
                    output = await instance.run(ctx, params, inputs)
                else:
                    future = self.pool.submit(instance.run, ctx, params, inputs)
                    future.add_done_callback(_release_frames)
                    self.thread_futures[node_id] = future
                    output = await asyncio.wrap_future(future)
                    if inspect.isawaitable(output):
                        output = await output
            return True, self._check_output(node_id, cls, output)
        except asyncio.CancelledError:
            ctx.cancelled.set()
            raise
        except Exception as exc:  # node code may raise anything: classify it
            ctx.cancelled.set()
            if isinstance(exc, TimeoutError) and budget.expired():
                error: AgenticError = NodeTimeoutError(
                    f"node {node_id!r} timed out after {timeout:g} s"
                )
            else:
                error = classify_error(exc, memory_limit_mb=self.memory_limit_mb)
                if not isinstance(exc, AgenticError):
                    self.tracebacks[node_id] = "".join(
                        traceback.format_exception(exc, limit=-TRACEBACK_FRAMES)
                    )
            _release_traceback(exc)
            return False, error

    @staticmethod
    def _check_output(node_id: str, cls: type[NodeType], output: Any) -> dict[str, Any]:
        if output is None:
            output = {}
        if not isinstance(output, Mapping):
            raise FatalError(f"node {node_id!r} returned {type(output).__name__}, expected a dict")
        output = dict(output)
        if cls.branches and output.get("branch") not in cls.branches:
            raise FatalError(
                f"node {node_id!r} must return 'branch' as one of {', '.join(cls.branches)}, "
                f"got {output.get('branch')!r}"
            )
        return output

    def _record(self, node_id: str, outcome: tuple[bool, Any]) -> None:
        """Store a finished node's outcome and emit NodeSucceeded or NodeFailed."""
        ok, value = outcome
        res = self.results[node_id]
        res.finished_at = utcnow()
        res.duration_ms = (time.perf_counter() - self.t_start[node_id]) * 1000
        self.contexts[node_id].cancelled.set()  # later ctx.log calls (stray threads) are dropped
        if ok:
            res.status = "succeeded"
            res.output = value
            self.outputs[node_id] = value
            data = {
                "node_type": res.node_type,
                "duration_ms": round(res.duration_ms, 3),
            }
            if "branch" in value:
                data["branch"] = value["branch"]
            data["output"] = jsonable(value)
            self.emitter.emit(
                NodeSucceeded(
                    execution_id=self.execution_id,
                    node_id=node_id,
                    message=f"node {node_id!r} succeeded in {res.duration_ms:.0f} ms",
                    data=data,
                )
            )
            return
        self._fail(node_id, value)
        self.stopping = True
        downstream = self.spec.downstream_closure(node_id)
        for other in self.order:
            if other in downstream and self.results[other].status == "pending":
                self._skip(other, f"upstream node {node_id!r} failed")

    def _fail(self, node_id: str, error: AgenticError) -> None:
        res = self.results[node_id]
        res.status = "failed"
        res.error = error.message
        res.error_type = type(error).__name__
        self.node_errors.append((node_id, error))
        self.emitter.emit(
            NodeFailed(
                execution_id=self.execution_id,
                node_id=node_id,
                level="error",
                message=f"node {node_id!r} failed: {error.message}",
                data={
                    "node_type": res.node_type,
                    "duration_ms": None if res.duration_ms is None else round(res.duration_ms, 3),
                    "error": error.to_dict(),
                    "retryable": error.retryable,
                    **(
                        {"traceback": self.tracebacks[node_id]}
                        if node_id in self.tracebacks
                        else {}
                    ),
                },
            )
        )

    def _skip(self, node_id: str, reason: str) -> None:
        res = self.results[node_id]
        res.status = "skipped"
        res.reason = reason
        self.emitter.emit(
            NodeSkipped(
                execution_id=self.execution_id,
                node_id=node_id,
                message=f"node {node_id!r} skipped: {reason}",
                data={"node_type": res.node_type, "reason": reason},
            )
        )

    # -- graph bookkeeping -----------------------------------------------------------------

    def _edge_live(self, source: str, branch: str | None) -> bool:
        if self.results[source].status != "succeeded":
            return False
        return branch is None or self.outputs[source].get("branch") == branch

    def _resolve_successors(self, node_id: str) -> list[str]:
        """Count ``node_id`` as resolved for its successors; return those now ready to run.
        Successors without enough live inputs are skipped (and resolved in turn)."""
        ready: list[str] = []
        work = [node_id]
        while work:
            current = work.pop()
            for nxt in self.succ[current]:
                self.remaining[nxt] -= 1
                if self.remaining[nxt] or self.stopping:
                    continue
                if self.results[nxt].status != "pending":
                    continue
                edges = self.spec.incoming(nxt)
                live = [self._edge_live(e.source, e.branch) for e in edges]
                join = self.spec.node(nxt).params.get("join", "all")
                if all(live) if join == "all" else any(live):
                    ready.append(nxt)
                else:
                    self._skip(nxt, self._dead_reason(edges))
                    work.append(nxt)
        return ready

    def _dead_reason(self, edges: list) -> str:
        for e in edges:
            if (
                self.results[e.source].status == "succeeded"
                and e.branch is not None
                and self.outputs[e.source].get("branch") != e.branch
            ):
                return f"branch {e.branch!r} of {e.source!r} not taken"
        dead = [e.source for e in edges if self.results[e.source].status != "succeeded"]
        return f"upstream node {dead[0]!r} {self.results[dead[0]].status}"

    def _leftover_reason(self) -> str:
        if self.abort_reason == "cancel":
            return "execution cancelled"
        if self.abort_reason == "timeout":
            return "execution timed out"
        if self.abort_reason == "memory":
            return "execution stopped: memory limit exceeded"
        return "execution failed before the node could start"

    # -- stopping --------------------------------------------------------------------------

    async def _abort(self, reason: str, value: Any) -> None:
        """Stop the execution: running nodes cancelled (or failed, for the memory limit)."""
        self.abort_reason = reason
        self.stopping = True
        if reason == "cancel":
            self.abort_error = CancelledError("execution cancelled")
        elif reason == "timeout":
            self.abort_error = NodeTimeoutError(
                f"execution exceeded its timeout of {self.timeout_s:g} s"
            )
        else:
            self.abort_error = MemoryLimitError(
                f"execution used {value:.0f} MB, limit {self.memory_limit_mb:g} MB"
            )
        running = dict(self.tasks)
        self.tasks.clear()
        for task, node_id in running.items():
            if not task.done():
                self.contexts[node_id].cancelled.set()
                task.cancel()
        if running:
            await asyncio.wait(running, timeout=self.thread_grace_s + 1)
        for task, node_id in running.items():
            if task.done() and not task.cancelled():
                self._record(node_id, task.result())
                continue
            res = self.results[node_id]
            res.finished_at = utcnow()
            res.duration_ms = (time.perf_counter() - self.t_start[node_id]) * 1000
            if reason == "memory":
                self._fail(node_id, self.abort_error)
                continue
            res.status = "cancelled"
            res.reason = self._leftover_reason()
            self.emitter.emit(
                NodeCancelled(
                    execution_id=self.execution_id,
                    node_id=node_id,
                    level="warning",
                    message=f"node {node_id!r} cancelled: {res.reason}",
                    data={
                        "node_type": res.node_type,
                        "duration_ms": round(res.duration_ms, 3),
                        "reason": res.reason,
                    },
                )
            )

    async def _wait_for_stopped_threads(self) -> None:
        """Give threads of stopped sync nodes a moment to exit (they are told to stop)."""
        stray = [f for f in self.thread_futures.values() if not f.done()]
        if stray:
            await asyncio.wait([asyncio.wrap_future(f) for f in stray], timeout=self.thread_grace_s)

    # -- result ----------------------------------------------------------------------------

    def _finish_execution(self, started_at: datetime, t0: float, peak_mb: float) -> ExecutionResult:
        results = self.results
        errors = [e for _, e in self.node_errors]
        if self.abort_error is not None:
            errors.append(self.abort_error)
        if self.abort_reason == "cancel":
            status: ExecutionOutcome = "cancelled"
            error: AgenticError | None = self.abort_error
            error_text = error.message if error else None
        elif self.node_errors:
            status = "failed"
            node_id, error = self.node_errors[0]
            error_text = f"node {node_id!r} failed: {error.message}"
        elif self.abort_error is not None:
            status, error = "failed", self.abort_error
            error_text = error.message
        else:
            status, error, error_text = "completed", None, None
        retryable = status == "failed" and all(e.retryable for e in errors)
        durations = [r.duration_ms for r in results.values() if r.duration_ms is not None]
        counts = {
            s: sum(1 for r in results.values() if r.status == s)
            for s in ("succeeded", "failed", "skipped", "cancelled")
        }
        metrics = {
            "total_nodes": len(results),
            "successful_nodes": counts["succeeded"],
            "failed_nodes": counts["failed"],
            "skipped_nodes": counts["skipped"],
            "cancelled_nodes": counts["cancelled"],
            "total_time_ms": round((time.perf_counter() - t0) * 1000, 3),
            "avg_node_time_ms": round(sum(durations) / len(durations), 3) if durations else 0.0,
            "memory_used_mb": round(peak_mb, 2),
            "max_parallel_nodes": self.max_parallel,
        }
        finished_at = utcnow()
        self.emitter.emit(
            ExecutionFinished(
                execution_id=self.execution_id,
                level="info"
                if status == "completed"
                else ("warning" if status == "cancelled" else "error"),
                message=f"execution {status}" + (f": {error_text}" if error_text else ""),
                data={
                    "status": status,
                    "error": error_text,
                    "error_type": type(error).__name__ if error else None,
                    "error_retryable": retryable,
                    "error_detail": error.to_dict() if error else None,
                    "metrics": metrics,
                },
            ),
            final=True,
        )
        ordered = {n: results[n] for n in getattr(self, "order", [])}
        return ExecutionResult(
            execution_id=self.execution_id,
            status=status,
            nodes=ordered,
            error=error_text,
            error_type=type(error).__name__ if error else None,
            error_retryable=retryable,
            metrics=metrics,
            attempt=self.attempt,
            started_at=started_at,
            finished_at=finished_at,
            last_seq=self.emitter.last_seq,
        )


def _node_count(raw: WorkflowSpec | Mapping[str, Any]) -> int | None:
    """Number of nodes of a spec or raw dict (None when the dict is malformed)."""
    if isinstance(raw, WorkflowSpec):
        return len(raw.nodes)
    nodes = raw.get("nodes") if isinstance(raw, Mapping) else None
    return len(nodes) if isinstance(nodes, list) else None
