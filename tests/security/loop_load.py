"""Load on the backend's event loop, through the real interfaces: a signed-in tab sends the
largest workflow the limits allow again and again (the editor's ``set_definition_text``
event), an anonymous tab sends event after event, and ``GET /api/agentic/health`` is timed
meanwhile from a separate process. Shared by tests/security/test_event_loop.py (which bounds
the slowest answer) and bench/loop_bench.py (which prints p50/p99)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from dataclasses import dataclass, field

from agentic_app.domain.workflow import MAX_DEFINITION_BYTES, MAX_EDGES, MAX_NODES
from agentic_app.settings import REPO_ROOT
from agentic_app.state.workflows import WorkflowEditState
from tests.security.reflex_client import QUIET_PATH, ReflexClient, event_name

HEALTH_PATH = "/api/agentic/health"
PROBE_START_S = 15.0
"""Longest wait for the health probe's first answer before the attack starts anyway."""
ANON_BATCH = 10
"""Events the anonymous tab sends before waiting for their refusals (keeps its queue short)."""
ANSWER_GRACE_S = 10.0
"""How long past the end of the run an answer already asked for may take."""


def largest_definition(variant: int = 0) -> str:
    """A valid workflow as JSON text: MAX_NODES log nodes, MAX_EDGES edges (acyclic: node i to
    the next few), padded to just under MAX_DEFINITION_BYTES. ``variant`` changes one
    character, so consecutive sends differ."""
    ids = [f"n{i:03d}" for i in range(MAX_NODES)]
    edges = [{"from": ids[i], "to": ids[i + d]} for i in range(MAX_NODES) for d in range(1, 6)
             if i + d < MAX_NODES][:MAX_EDGES]
    assert len(edges) == MAX_EDGES

    def text(pad: int) -> str:
        nodes = [{"id": n, "type": "log",
                  "params": {"message": f"{variant % 10}{n}" + "x" * pad}} for n in ids]
        return json.dumps({"nodes": nodes, "edges": edges}, separators=(",", ":"))

    pad = (MAX_DEFINITION_BYTES - len(text(0))) // MAX_NODES
    out = text(pad)
    assert MAX_DEFINITION_BYTES - 2 * MAX_NODES < len(out.encode()) <= MAX_DEFINITION_BYTES
    return out


@dataclass
class LoadResult:
    """What happened during one load run."""

    health_ms: list[float] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)
    big_answered: int = 0
    anon_sent: int = 0
    anon_refused: int = 0
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the health answer times, in ms."""
        ordered = sorted(self.health_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def summary(self) -> dict[str, float | int]:
        """The figures as a dict (what the benchmark prints)."""
        return {"seconds": round(self.seconds, 1), "health_requests": len(self.health_ms),
                "health_failures": len(self.health_failures),
                "health_p50_ms": round(statistics.median(self.health_ms), 1),
                "health_p99_ms": round(self.percentile(0.99), 1),
                "health_max_ms": round(max(self.health_ms), 1),
                "largest_workflows_answered": self.big_answered,
                "anonymous_events_sent": self.anon_sent,
                "anonymous_events_refused": self.anon_refused}


async def _probe_health(url: str, seconds: float, timeout_s: float, out: LoadResult,
                        done: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Run tests/security/health_probe.py in its own process until ``done`` (or ``seconds``),
    collecting its answer times; with ``ready``, from its second answer on, and ``ready`` is
    set at its first (the warm-up, before the attack)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.security.health_probe", url, str(seconds), str(timeout_s),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)

    async def read() -> None:
        async for line in proc.stdout:
            answer = json.loads(line)
            if answer["failure"]:
                out.health_failures.append(answer["failure"])
            if ready is not None and not ready.is_set():  # the warm-up: before the attack
                ready.set()
                continue
            out.health_ms.append(answer["ms"])

    reader = asyncio.create_task(read())
    await asyncio.wait([reader, asyncio.create_task(done.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if ready is not None:
        ready.set()  # the probe ended without answering: the attack must not wait for it
    if proc.returncode is None:
        proc.terminate()
    await proc.wait()
    await reader


async def _answered(tab: ReflexClient, predicate, deadline: float) -> bool:
    """Whether ``predicate`` holds before ``deadline`` (plus ANSWER_GRACE_S)."""
    try:
        await tab.wait_for(predicate, max(0.1, deadline + ANSWER_GRACE_S - time.monotonic()))
    except TimeoutError:
        return False
    return True


async def _send_largest(tab: ReflexClient, count: int, deadline: float,
                        out: LoadResult) -> None:
    name, edit = event_name(WorkflowEditState.set_definition_text), \
        WorkflowEditState.get_full_name()
    texts = [largest_definition(0), largest_definition(1)]
    for i in range(count):
        if time.monotonic() >= deadline:
            return
        mark = await tab.emit(name, {"value": texts[i % 2]})
        if not await _answered(tab, lambda m=mark: any(
                "levels_rx_state_" in (u.get("delta") or {}).get(edit, {})
                for u in tab.updates[m:]), deadline):
            return
        out.big_answered += 1


async def _send_anonymous(tab: ReflexClient, count: int, deadline: float,
                          out: LoadResult) -> None:
    name = event_name(WorkflowEditState.set_definition_text)
    payload = {"value": largest_definition(2)}
    while out.anon_sent < count and time.monotonic() < deadline:
        mark = len(tab.updates)
        batch = min(ANON_BATCH, count - out.anon_sent)
        for _ in range(batch):
            await tab.emit(name, payload, "/workflows/1")
        out.anon_sent += batch
        if not await _answered(tab, lambda m=mark, b=batch: len(tab.redirects_since(m)) >= b,
                               deadline):
            return
        out.anon_refused += batch


async def run_load(backend: str, session_token: str, workflow_id: int, *, seconds: float = 20.0,
                   big_count: int = 100_000, anon_count: int = 1_000_000,
                   health_timeout_s: float = 2.0) -> LoadResult:
    """For at most ``seconds``: the owner of ``workflow_id`` sends up to ``big_count`` largest
    workflows (each after the previous answer) and an anonymous tab up to ``anon_count``
    events (in batches of ANON_BATCH, each after the refusals of the previous one), while the
    health endpoint is timed from another process until both are done. The counts in the
    result say how far they got."""
    out = LoadResult()
    async with ReflexClient(backend, auth_token=session_token,
                            path=f"/workflows/{workflow_id}") as owner, \
            ReflexClient(backend, path=QUIET_PATH) as anonymous:
        await owner.wait_for(lambda: owner.var(WorkflowEditState, "loaded"), 30, "editor load")
        done, ready = asyncio.Event(), asyncio.Event()

        async def attack() -> None:
            # the attack starts once the probe answers, so the probe's own start-up (a
            # process of its own) takes no part of the attack unobserved
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), PROBE_START_S)
            start = time.monotonic()
            deadline = start + seconds
            try:
                await asyncio.gather(_send_largest(owner, big_count, deadline, out),
                                     _send_anonymous(anonymous, anon_count, deadline, out))
            finally:
                out.seconds = time.monotonic() - start
                done.set()

        await asyncio.gather(
            _probe_health(backend + HEALTH_PATH, seconds + PROBE_START_S, health_timeout_s,
                          out, done, ready),
            attack())
    return out
