"""One attempt of a workflow run on the event loop: node scheduling by dependency counts,
join semantics, timeouts, the memory guard, cancellation and the failure policy (the rules
are in :mod:`~agentic_app.engine.executor.runner`, whose ``execute`` builds an
:class:`AttemptRun`)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentic_app.domain.errors import (
    AgenticError,
    CancelledError,
    FatalError,
    MemoryLimitError,
    NodeTimeoutError,
)
from agentic_app.domain.events import utcnow
from agentic_app.domain.runs import RunSubject
from agentic_app.domain.workflow import (
    WorkflowSpec,
    WorkflowValidationError,
    split_common_params,
    validate_workflow,
)
from agentic_app.engine.executor import attempt_events as events
from agentic_app.engine.executor.emitter import Emitter
from agentic_app.engine.executor.memory_guard import MemoryGuard
from agentic_app.engine.executor.node_errors import (
    TRACEBACK_FRAMES,
    classify_error,
    release_frames,
    release_traceback,
)
from agentic_app.engine.executor.results import (
    ExecutionResult,
    NodeResult,
    metrics_of,
    outcome_of,
)
from agentic_app.nodes.base import NodeContext, NodeRegistry, NodeType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions(RunSubject):
    """What one attempt runs with (see ``runner.execute`` for each option)."""

    now: datetime
    execution_timeout_s: float
    memory_limit_mb: float | None
    max_threads: int
    memory_interval_s: float
    thread_grace_s: float


class AttemptRun:
    """State of one attempt of a workflow; see :mod:`~agentic_app.engine.executor.runner`
    for the rules."""

    def __init__(self, *, registry: NodeRegistry, services: Any, emitter: Emitter,
                 options: RunOptions,
                 cancel_event: threading.Event | asyncio.Event | None = None) -> None:
        self.registry = registry
        self.services = services
        self.emitter = emitter
        self.opts = options
        self.cancel_event = cancel_event
        self.results: dict[str, NodeResult] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.contexts: dict[str, NodeContext] = {}
        self.tasks: dict[asyncio.Task, str] = {}
        self.thread_futures: dict[str, Future] = {}
        self.t_start: dict[str, float] = {}
        self.node_errors: list[tuple[str, AgenticError]] = []
        self.abort_reason: str | None = None
        self.abort_error: AgenticError | None = None
        self.stopping = False
        self.max_parallel = 0

    # -- top level -------------------------------------------------------------------------

    async def go(self, raw_spec: WorkflowSpec | Mapping[str, Any]) -> ExecutionResult:
        started_at = utcnow()
        t0 = time.perf_counter()
        o = self.opts
        self.emitter.emit(events.execution_started(
            o.execution_id, o.attempt, workflow_id=o.workflow_id, user_id=o.user_id,
            node_count=_node_count(raw_spec), now=o.now, trigger_payload=o.trigger_payload))
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
            self.results[node.id] = NodeResult(node.id, node.type, attempt=self.opts.attempt)
        self.succ = {n: self.spec.downstream(n) for n in self.order}
        self.remaining = {n: len(self.spec.upstream(n)) for n in self.order}

        def over_limit(used_mb: float) -> None:
            loop.call_soon_threadsafe(self._set_abort, "memory", used_mb)

        guard = MemoryGuard(self.opts.memory_limit_mb, over_limit,
                            interval_s=self.opts.memory_interval_s)
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
            self._pool = ThreadPoolExecutor(self.opts.max_threads, thread_name_prefix="node")
        return self._pool

    async def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self.opts.execution_timeout_s
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
            execution_id=self.opts.execution_id,
            node_id=node_id,
            node_type=cls.type_name,
            user_id=self.opts.user_id,
            workflow_id=self.opts.workflow_id,
            attempt=self.opts.attempt,
            trigger_payload=self.opts.trigger_payload,
            now=self.opts.now,
            services=self.services,
            ancestors=ancestors,
            emit=self.emitter.emit,
        )
        self.contexts[node_id] = ctx
        res = self.results[node_id]
        res.status = "running"
        res.started_at = utcnow()
        self.t_start[node_id] = time.perf_counter()
        self.emitter.emit(events.node_started(self.opts.execution_id, node_id, cls, timeout))
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
                    future.add_done_callback(release_frames)
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
                error = classify_error(exc, memory_limit_mb=self.opts.memory_limit_mb)
                if not isinstance(exc, AgenticError):  # the traceback: server log only
                    log.error("node %r of execution %s raised:\n%s", node_id,
                              self.opts.execution_id, "".join(
                                  traceback.format_exception(exc, limit=-TRACEBACK_FRAMES)))
            release_traceback(exc)
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
            self.emitter.emit(events.node_succeeded(self.opts.execution_id, res, value))
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
        self.emitter.emit(events.node_failed(self.opts.execution_id, res, error))

    def _skip(self, node_id: str, reason: str) -> None:
        res = self.results[node_id]
        res.status = "skipped"
        res.reason = reason
        self.emitter.emit(events.node_skipped(self.opts.execution_id, res, reason))

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
                f"execution exceeded its timeout of {self.opts.execution_timeout_s:g} s"
            )
        else:
            self.abort_error = MemoryLimitError(
                f"execution used {value:.0f} MB, limit {self.opts.memory_limit_mb:g} MB"
            )
        running = dict(self.tasks)
        self.tasks.clear()
        for task, node_id in running.items():
            if not task.done():
                self.contexts[node_id].cancelled.set()
                task.cancel()
        if running:
            await asyncio.wait(running, timeout=self.opts.thread_grace_s + 1)
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
            self.emitter.emit(events.node_cancelled(self.opts.execution_id, res))

    async def _wait_for_stopped_threads(self) -> None:
        """Give threads of stopped sync nodes a moment to exit (they are told to stop)."""
        stray = [f for f in self.thread_futures.values() if not f.done()]
        if stray:
            await asyncio.wait([asyncio.wrap_future(f) for f in stray],
                               timeout=self.opts.thread_grace_s)

    # -- result ----------------------------------------------------------------------------

    def _finish_execution(self, started_at: datetime, t0: float, peak_mb: float) -> ExecutionResult:
        outcome = outcome_of(self.node_errors, self.abort_reason, self.abort_error)
        metrics = metrics_of(self.results, total_time_ms=(time.perf_counter() - t0) * 1000,
                             peak_mb=peak_mb, max_parallel=self.max_parallel)
        finished_at = utcnow()
        self.emitter.emit(events.execution_finished(self.opts.execution_id, outcome, metrics),
                          final=True)
        error = outcome.error
        return ExecutionResult(
            execution_id=self.opts.execution_id, status=outcome.status,
            nodes={n: self.results[n] for n in getattr(self, "order", [])},
            error=outcome.error_text, error_type=type(error).__name__ if error else None,
            error_retryable=outcome.retryable, metrics=metrics, attempt=self.opts.attempt,
            started_at=started_at, finished_at=finished_at, last_seq=self.emitter.last_seq)


def _node_count(raw: WorkflowSpec | Mapping[str, Any]) -> int | None:
    """Number of nodes of a spec or raw dict (None when the dict is malformed)."""
    if isinstance(raw, WorkflowSpec):
        return len(raw.nodes)
    nodes = raw.get("nodes") if isinstance(raw, Mapping) else None
    return len(nodes) if isinstance(nodes, list) else None
