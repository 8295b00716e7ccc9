"""Tests of the executor (engine.executor) with its events, registry and memory guard."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from agentic_app.domain.errors import (
    FatalError,
    MarketDataUnavailableError,
    MemoryLimitError,
    NodeTimeoutError,
)
from agentic_app.domain.events import (
    ExecutionFinished,
    ExecutionStarted,
    NodeCancelled,
    NodeFailed,
    NodeLog,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    event_from_dict,
    event_from_json,
)
from agentic_app.engine.events.sink import CompositeSink, MemorySink
from agentic_app.engine.executor.node_errors import classify_error
from agentic_app.engine.executor.runner import execute, execute_sync
from agentic_app.nodes.base import NodeParams, NodeRegistry, NodeType

REPO = Path(__file__).resolve().parents[3]
MB = 1024 * 1024
AT = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


class WaitParams(NodeParams):
    seconds: float = 0.0


def make_registry() -> NodeRegistry:
    """A fresh registry with small test node types."""
    reg = NodeRegistry()

    @reg.register
    class Wait(NodeType):
        """Sync node that sleeps (cancellably) and logs."""

        type_name = "wait"
        Params = WaitParams
        outputs = {"waited": "seconds slept"}

        def run(self, ctx, params, inputs):
            ctx.log("waiting", seconds=params.seconds)
            ctx.sleep(params.seconds)
            return {"waited": params.seconds}

    @reg.register
    class AsyncWait(NodeType):
        """Async node that sleeps on the event loop."""

        type_name = "await"
        Params = WaitParams

        async def run(self, ctx, params, inputs):
            await asyncio.sleep(params.seconds)
            return {"waited": params.seconds}

    @reg.register
    class Fail(NodeType):
        """Raises the error named by ``kind``."""

        type_name = "fail"

        class Params(NodeParams):
            kind: str = "fatal"

        def run(self, ctx, params, inputs):
            errors = {
                "fatal": FatalError("bad things"),
                "retryable": MarketDataUnavailableError("feed down"),
                "value": ValueError("odd value"),
                "memory": MemoryError(),
                "timeout": TimeoutError("socket timed out"),
            }
            raise errors[params.kind]

    @reg.register
    class Alloc(NodeType):
        """Allocates ``chunks`` touched chunks of ``chunk_mb`` MB, checking for a stop."""

        type_name = "alloc"

        class Params(NodeParams):
            chunk_mb: int = 20
            chunks: int = 1
            pause_s: float = 0.03

        def run(self, ctx, params, inputs):
            held = []
            for _ in range(params.chunks):
                held.append(b"\x01" * (params.chunk_mb * MB))
                ctx.check_cancelled()
                time.sleep(params.pause_s)
            return {"allocated_mb": params.chunk_mb * len(held)}

    @reg.register
    class Echo(NodeType):
        """Returns what it was given."""

        type_name = "echo"

        class Params(NodeParams):
            value: Any = None

        def run(self, ctx, params, inputs):
            return {
                "value": params.value,
                "inputs": inputs,
                "ancestors": sorted(ctx.ancestors),
                "payload": ctx.trigger_payload,
                "now": ctx.now,
                "key": ctx.idempotency_key,
            }

    @reg.register
    class Branch(NodeType):
        """Takes the branch named by ``take``."""

        type_name = "branch"
        branches = ("true", "false")

        class Params(NodeParams):
            take: str = Field("true")

        def run(self, ctx, params, inputs):
            return {"branch": params.take}

    @reg.register
    class Bad(NodeType):
        """Returns a non-dict."""

        type_name = "bad"

        def run(self, ctx, params, inputs):
            return [1, 2]

    return reg


def wf(nodes: list[tuple], edges: list[tuple] = ()) -> dict[str, Any]:
    """Workflow JSON from (id, type[, params]) and (from, to[, branch]) tuples."""
    return {
        "nodes": [{"id": n[0], "type": n[1], "params": n[2] if len(n) > 2 else {}} for n in nodes],
        "edges": [
            {"from": e[0], "to": e[1], **({"branch": e[2]} if len(e) > 2 else {})} for e in edges
        ],
    }


async def arun(raw: dict, **kwargs: Any):
    """Execute with a fresh registry and a MemorySink; return (result, sink)."""
    sink = kwargs.pop("sink", None) or MemorySink()
    kwargs.setdefault("registry", make_registry())
    kwargs.setdefault("memory_limit_mb", None)
    result = await execute(raw, sink=sink, execution_id=kwargs.pop("execution_id", 7), **kwargs)
    return result, sink


def run(raw: dict, **kwargs: Any):
    """:func:`arun` in a fresh event loop."""
    return asyncio.run(arun(raw, **kwargs))


def overlap(a, b) -> bool:
    """True when two node results' [started_at, finished_at] intervals overlap."""
    return a.started_at < b.finished_at and b.started_at < a.finished_at


@pytest.mark.parametrize("kind", ["wait", "await"])
def test_diamond_middle_nodes_run_in_parallel(kind):
    """A->(B,C)->D with B and C waiting 1 s each finishes under 1.5 s with B/C overlapping."""
    raw = wf(
        [("a", kind), ("b", kind, {"seconds": 1}), ("c", kind, {"seconds": 1}), ("d", kind)],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )
    t0 = time.perf_counter()
    result, _ = run(raw)
    elapsed = time.perf_counter() - t0
    assert result.status == "completed"
    assert elapsed < 1.5
    assert overlap(result.nodes["b"], result.nodes["c"])
    assert result.nodes["d"].started_at >= max(
        result.nodes["b"].finished_at, result.nodes["c"].finished_at
    )
    assert result.metrics["max_parallel_nodes"] == 2


def test_no_level_barrier():
    """With A->B(1 s)->D and A->C(fast)->E, E starts before B finishes."""
    raw = wf(
        [
            ("a", "wait"),
            ("b", "wait", {"seconds": 1}),
            ("c", "wait", {"seconds": 0.05}),
            ("d", "wait"),
            ("e", "wait"),
        ],
        [("a", "b"), ("b", "d"), ("a", "c"), ("c", "e")],
    )
    result, _ = run(raw)
    assert result.status == "completed"
    assert result.nodes["e"].finished_at < result.nodes["b"].finished_at


def test_node_timeout_fails_retryable():
    """A node past its timeout_seconds fails with a retryable NodeTimeoutError."""
    raw = wf(
        [("slow", "wait", {"seconds": 5, "timeout_seconds": 0.2}), ("after", "wait")],
        [("slow", "after")],
    )
    t0 = time.perf_counter()
    result, sink = run(raw)
    assert time.perf_counter() - t0 < 2
    assert result.status == "failed" and result.error_retryable
    assert result.error_type == "NodeTimeoutError" and "after 0.2 s" in result.error
    assert result.nodes["slow"].status == "failed"
    assert result.nodes["after"].status == "skipped"
    (failed,) = sink.of_type(NodeFailed)
    assert failed.data["error"]["type"] == "NodeTimeoutError" and failed.data["retryable"]


def test_execution_timeout_cancels_running_nodes():
    """Past the execution timeout running nodes are cancelled and the execution fails."""
    raw = wf(
        [("a", "wait", {"seconds": 5}), ("b", "await", {"seconds": 5}), ("c", "wait")], [("a", "c")]
    )
    t0 = time.perf_counter()
    result, sink = run(raw, execution_timeout_s=0.3)
    assert time.perf_counter() - t0 < 2
    assert result.status == "failed" and result.error_type == "NodeTimeoutError"
    assert result.error_retryable
    assert {n: r.status for n, r in result.nodes.items()} == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "skipped",
    }
    assert {e.node_id for e in sink.of_type(NodeCancelled)} == {"a", "b"}


def test_memory_limit_fails_execution_and_next_one_runs():
    """Allocating past the limit fails with MemoryLimitError; the next execution succeeds."""
    raw = wf([("hog", "alloc", {"chunk_mb": 20, "chunks": 20})])
    result, sink = run(raw, memory_limit_mb=150, memory_interval_s=0.01)
    assert result.status == "failed" and not result.error_retryable
    assert result.error_type == "MemoryLimitError"
    assert "limit 150 MB" in result.error and "execution used" in result.error
    assert result.nodes["hog"].status == "failed"
    assert result.metrics["memory_used_mb"] > 150
    finished = sink.of_type(ExecutionFinished)[0]
    assert finished.data["error_type"] == "MemoryLimitError"

    ok, _ = run(
        wf([("small", "alloc", {"chunk_mb": 20, "chunks": 3})]),
        memory_limit_mb=150,
        memory_interval_s=0.01,
    )
    assert ok.status == "completed"
    assert ok.nodes["small"].output == {"allocated_mb": 60}
    assert 40 < ok.metrics["memory_used_mb"] < 150


def test_address_space_limit_turns_allocation_into_memory_limit_error():
    """Under RLIMIT_AS an over-limit allocation fails as MemoryLimitError and the process
    can allocate again right after."""
    script = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from tests.unit.engine.test_executor import make_registry, wf
from agentic_app.engine.executor.runner import execute_sync
from agentic_app.engine.executor.memory_guard import apply_address_space_limit
apply_address_space_limit(200)
try:
    big = b"x" * (400 * 1024 * 1024)
    direct = "allocated"
except MemoryError:
    direct = "MemoryError"
result = execute_sync(wf([("hog", "alloc", {{"chunk_mb": 50, "chunks": 8, "pause_s": 0}})]),
                      registry=make_registry(), memory_limit_mb=None)
after = len(b"y" * (150 * 1024 * 1024))  # the failed node's 200+ MB were freed
print(json.dumps({{"direct": direct, "status": result.status, "error_type": result.error_type,
                  "error": result.error, "after": after}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["direct"] == "MemoryError"
    assert out["status"] == "failed" and out["error_type"] == "MemoryLimitError"
    assert "out of memory" in out["error"]
    assert out["after"] == 150 * MB


@pytest.mark.parametrize(
    ("kind", "error_type", "retryable", "text"),
    [
        ("fatal", "FatalError", False, "bad things"),
        ("retryable", "MarketDataUnavailableError", True, "feed down"),
        ("value", "FatalError", False, "ValueError: odd value"),
        ("memory", "MemoryLimitError", False, "out of memory"),
        ("timeout", "NodeTimeoutError", True, "socket timed out"),
    ],
)
def test_failure_classified_and_downstream_skipped(kind, error_type, retryable, text):
    """A failed node fails the execution, is classified, and its downstream is skipped."""
    raw = wf(
        [("a", "wait"), ("f", "fail", {"kind": kind}), ("d", "wait"), ("e", "wait")],
        [("a", "f"), ("f", "d"), ("d", "e")],
    )
    result, sink = run(raw)
    assert result.status == "failed"
    assert result.error_type == error_type and result.error_retryable is retryable
    assert text in result.error and "node 'f' failed" in result.error
    assert [result.nodes[n].status for n in "afde"] == ["succeeded", "failed", "skipped", "skipped"]
    skipped = sink.of_type(NodeSkipped)
    assert [e.node_id for e in skipped] == ["d", "e"]
    assert all("upstream node 'f' failed" in e.data["reason"] for e in skipped)


def test_failure_drains_running_branches_and_starts_nothing_new():
    """After a failure, already-running nodes finish; nodes not yet started are skipped."""
    raw = wf(
        [("a", "wait"), ("f", "fail"), ("slow", "wait", {"seconds": 0.4}), ("next", "wait")],
        [("a", "f"), ("a", "slow"), ("slow", "next")],
    )
    result, _ = run(raw)
    assert result.status == "failed" and not result.error_retryable
    assert result.nodes["slow"].status == "succeeded"
    assert result.nodes["next"].status == "skipped"
    assert "execution failed" in result.nodes["next"].reason


def test_retryable_only_when_every_error_is_retryable():
    """One retryable and one fatal failure make the execution not retryable."""
    raw = wf([("r", "fail", {"kind": "retryable"}), ("f", "fail", {"kind": "fatal"})])
    result, _ = run(raw)
    assert result.metrics["failed_nodes"] == 2 and not result.error_retryable


def test_untaken_branch_skipped_and_join_semantics():
    """Untaken branch skipped; join=all needs every edge live, join=any one live edge."""
    raw = wf(
        [
            ("c", "branch", {"take": "true"}),
            ("yes", "wait"),
            ("yes2", "wait"),
            ("no", "wait"),
            ("no2", "wait"),
            ("merge_any", "echo", {"join": "any"}),
            ("merge_all", "echo"),
            ("gated", "echo"),
            ("plain", "echo"),
        ],
        [
            ("c", "yes", "true"),
            ("yes", "yes2"),
            ("c", "no", "false"),
            ("no", "no2"),
            ("yes2", "merge_any"),
            ("no2", "merge_any"),
            ("yes2", "merge_all"),
            ("no2", "merge_all"),
            ("c", "gated", "false"),
            ("yes", "gated"),
            ("c", "plain"),
        ],
    )
    result, _ = run(raw)
    status = {n: r.status for n, r in result.nodes.items()}
    assert result.status == "completed"
    assert status == {
        "c": "succeeded",
        "yes": "succeeded",
        "yes2": "succeeded",
        "no": "skipped",
        "no2": "skipped",
        "merge_any": "succeeded",
        "merge_all": "skipped",
        "gated": "skipped",
        "plain": "succeeded",
    }
    assert result.nodes["no"].reason == "branch 'false' of 'c' not taken"
    assert result.nodes["no2"].reason == "upstream node 'no' skipped"
    assert result.nodes["merge_any"].output["inputs"] == {"yes2": {"waited": 0.0}}
    assert result.metrics["skipped_nodes"] == 4


def test_events_ordered_with_contiguous_seq_and_round_trip():
    """Events come in order with seq 1..n, one terminal event per node, and round-trip JSON."""
    raw = wf(
        [
            ("a", "wait"),
            ("b", "wait", {"seconds": 0.05}),
            ("c", "await"),
            ("f", "fail"),
            ("s", "wait"),
        ],
        [("a", "b"), ("a", "c"), ("c", "f"), ("f", "s")],
    )
    result, sink = run(raw)
    events = sink.events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert result.first_seq == 1 and result.last_seq == len(events)
    assert isinstance(events[0], ExecutionStarted) and isinstance(events[-1], ExecutionFinished)
    assert all(e.execution_id == 7 and e.attempt == 1 for e in events)
    for node_id in "abcfs":
        kinds = [type(e) for e in sink.for_node(node_id)]
        terminal = [
            k for k in kinds if k in (NodeSucceeded, NodeFailed, NodeSkipped, NodeCancelled)
        ]
        assert len(terminal) == 1
        if NodeStarted in kinds:
            assert kinds[0] is NodeStarted and kinds[-1] is terminal[0]
    assert [type(e) for e in sink.for_node("a")] == [NodeStarted, NodeLog, NodeSucceeded]
    assert events[-1].data["status"] == "failed" and events[-1].data["metrics"]["total_nodes"] == 5
    for event in events:
        again = event_from_json(event.to_json())
        assert again == event_from_dict(event.to_dict())
        assert again.to_dict() == event.to_dict() and type(again) is type(event)


def test_first_seq_continues_numbering_for_a_retry():
    """execute(first_seq=N) numbers events N, N+1, ... and tags them with the attempt."""
    result, sink = run(wf([("a", "wait"), ("b", "wait")], [("a", "b")]), first_seq=42, attempt=2)
    assert [e.seq for e in sink.events] == list(range(42, 42 + len(sink.events)))
    assert result.first_seq == 42 and result.last_seq == sink.events[-1].seq
    assert {e.attempt for e in sink.events} == {2}
    assert result.nodes["a"].attempt == 2


@pytest.mark.parametrize("event_kind", ["thread", "asyncio"])
def test_cancellation_stops_running_nodes(event_kind):
    """Setting cancel_event cancels running nodes, skips the rest, status cancelled."""
    raw = wf(
        [("a", "wait", {"seconds": 5}), ("b", "await", {"seconds": 5}), ("c", "wait")], [("a", "c")]
    )

    async def main():
        cancel = threading.Event() if event_kind == "thread" else asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, cancel.set)
        return await arun(raw, cancel_event=cancel)

    t0 = time.perf_counter()
    result, sink = asyncio.run(main())
    assert time.perf_counter() - t0 < 2
    assert result.status == "cancelled" and not result.error_retryable
    assert result.error_type == "CancelledError"
    assert [result.nodes[n].status for n in "abc"] == ["cancelled", "cancelled", "skipped"]
    assert sink.events[-1].data["status"] == "cancelled"
    assert {e.node_id for e in sink.of_type(NodeCancelled)} == {"a", "b"}


def test_inputs_context_and_clock():
    """Nodes get upstream outputs, ancestors, the trigger payload, ctx.now and a stable key."""
    raw = wf(
        [("a", "echo", {"value": 1}), ("b", "echo", {"value": 2}), ("c", "echo")],
        [("a", "b"), ("b", "c")],
    )
    result, _ = run(raw, trigger_payload={"price": 1.1}, now=AT, execution_id=99)
    out = result.nodes["c"].output
    assert list(out["inputs"]) == ["b"] and out["inputs"]["b"]["value"] == 2
    assert out["ancestors"] == ["a", "b"]
    assert out["payload"] == {"price": 1.1} and out["now"] == AT and out["key"] == "99:c"
    assert result.to_dict()["nodes"][2]["output"]["now"] == AT.isoformat()


def test_invalid_workflow_finishes_failed_not_retryable():
    """An invalid workflow yields a failed, fatal execution with start and finish events."""
    result, sink = run(wf([("a", "nope")]))
    assert result.status == "failed" and result.error_type == "WorkflowValidationError"
    assert not result.error_retryable and "unknown node type" in result.error
    assert sink.types() == ["ExecutionStarted", "ExecutionFinished"]


def test_bad_outputs_are_fatal():
    """A non-dict output, or a branching node without a valid branch, fails fatally."""
    result, _ = run(wf([("x", "bad")]))
    assert result.error_type == "FatalError" and "expected a dict" in result.error
    result, _ = run(wf([("c", "branch", {"take": "maybe"})]))
    assert result.error_type == "FatalError" and "'branch'" in result.error


def test_execute_sync_and_composite_sink():
    """execute_sync runs in a fresh loop; CompositeSink feeds every sink even if one breaks."""

    class Broken:
        def emit(self, event):
            raise RuntimeError("down")

    first, second = MemorySink(), MemorySink()
    result = execute_sync(
        wf([("a", "wait")]),
        registry=make_registry(),
        sink=CompositeSink(first, Broken(), second),
        memory_limit_mb=None,
    )
    assert result.ok and first.types() == second.types()
    assert first.types() == [
        "ExecutionStarted",
        "NodeStarted",
        "NodeLog",
        "NodeSucceeded",
        "ExecutionFinished",
    ]


def test_classify_error_maps_exception_types():
    """classify_error keeps AgenticErrors and maps MemoryError, TimeoutError and others."""
    err = FatalError("x")
    assert classify_error(err) is err
    assert isinstance(classify_error(MemoryError(), memory_limit_mb=500), MemoryLimitError)
    assert isinstance(classify_error(TimeoutError()), NodeTimeoutError)
    wrapped = classify_error(KeyError("k"))
    assert type(wrapped) is FatalError and wrapped.message.startswith("KeyError")


def test_registry_instances_are_separate_and_refuse_duplicates():
    """Registries are independent; a second type with the same name is refused."""
    one, two = make_registry(), NodeRegistry()
    assert "wait" in one and "wait" not in two and len(two) == 0
    assert one.versions()["wait"] == 1
    described = {d["type"]: d for d in one.describe()}
    assert described["branch"]["branches"] == ["true", "false"]
    assert "seconds" in described["wait"]["params_schema"]["properties"]

    class Other(NodeType):
        type_name = "wait"

        def run(self, ctx, params, inputs):
            return {}

    with pytest.raises(ValueError, match="already registered"):
        one.register(Other)
    one.register(Other, replace=True)
    assert one.get("wait") is Other
    with pytest.raises(TypeError):
        two.register(type("NoRun", (NodeType,), {"type_name": "x"}))
