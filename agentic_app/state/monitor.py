"""Live execution monitor state: one execution folded from its event stream (catch-up from
the database, then live from Redis) into node statuses, progress, logs, timeline, metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import reflex as rx

from agentic_app.domain.errors import AgenticError
from agentic_app.domain.events import LEVELS as EVENT_LEVELS
from agentic_app.domain.events import NODE_STATUS_BY_EVENT
from agentic_app.domain.workflow import WorkflowSpec
from agentic_app.services.app import TERMINAL_STATUSES, Actor
from agentic_app.state.base import AppState
from agentic_app.state.common import (
    PAGE_SIZE,
    app,
    error_text,
    fmt_ms,
    fmt_time,
    last_path_int,
    pages,
)
from agentic_app.state.live import Presence, batches, live_refused
from agentic_app.state.offloop import off_loop

MAX_LOGS = 2000
"""Log lines kept per execution on the server (the filters pick from these)."""
VISIBLE_LOGS = 200
"""Log lines sent to the browser: the newest that match the filters (a bounded window, so a
long log does not make every event resend and re-render thousands of rows)."""
LEVEL_ORDER = {level: rank for rank, level in enumerate(EVENT_LEVELS)}
DONE = ("succeeded", "failed", "skipped", "cancelled")
LEVELS = ["all", *EVENT_LEVELS]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


class MonitorState(AppState):
    """One execution, live (``/monitor/[execution_id]``), and the recent executions list."""

    # list page
    recent: list[dict[str, str]] = []
    recent_total: int = 0
    recent_page: int = 1
    recent_loaded: bool = False

    # detail page
    execution: dict[str, str] = {}
    error: str = ""
    loaded: bool = False
    nodes: dict[str, dict[str, str]] = {}
    levels: list[list[str]] = []
    visible_logs: list[dict[str, str]] = []
    spans: list[dict[str, str]] = []
    metrics: dict[str, str] = {}
    log_level: str = "all"
    log_node: str = "all"
    live: bool = False

    _gen: int = 0
    _follow_gen: int = -1  # the view whose events a follow task streams now
    _view_key: str = ""
    _logs: list[dict[str, str]] = []
    _last_event_ms: float = 0.0
    _last_seq: int = 0
    _start_ts: float = 0.0
    _span_index: dict[str, int] = {}
    _raw_spans: list[dict[str, Any]] = []

    @rx.var
    def recent_page_count(self) -> int:
        """Pages of the recent executions list."""
        return pages(self.recent_total)

    @rx.var
    def node_ids(self) -> list[str]:
        """Node ids for the log filter."""
        return ["all", *self.nodes.keys()]

    @rx.var
    def dag(self) -> list[list[dict[str, str]]]:
        """Nodes by parallel level, each with its live status."""
        return [[{"id": n, **self.nodes.get(n, {})} for n in level] for level in self.levels]

    @rx.var
    def node_rows(self) -> list[dict[str, str]]:
        """Nodes in level order with status and progress for the per-node bars."""
        return [{"id": n, **self.nodes.get(n, {})} for level in self.levels for n in level]

    @rx.var
    def progress(self) -> int:
        """Percent of nodes that are done."""
        if not self.nodes:
            return 0
        done = sum(1 for n in self.nodes.values() if n.get("status") in DONE)
        return round(100 * done / len(self.nodes))

    @rx.var
    def counts(self) -> dict[str, int]:
        """Nodes per status so far."""
        out = dict.fromkeys(("pending", "running", *DONE), 0)
        for node in self.nodes.values():
            out[node.get("status", "pending")] = out.get(node.get("status", "pending"), 0) + 1
        return out

    def _shown(self, line: dict[str, str]) -> bool:
        """Whether ``line`` passes the level and node filters."""
        return (LEVEL_ORDER.get(line["level"], 1) >= LEVEL_ORDER.get(self.log_level, -1)
                and (self.log_node == "all" or line["node"] == self.log_node))

    def _refilter(self) -> None:
        """Rebuild the visible window from the kept lines (after a filter change)."""
        self.visible_logs = [line for line in self._logs if self._shown(line)][-VISIBLE_LOGS:]

    # ------------------------------------------------------------------ list
    @rx.event
    @off_loop
    def load_recent(self):
        """Load a page of the user's recent executions."""
        if not self._resolve():
            return
        views, self.recent_total = app().monitoring.list(
            self._actor(), offset=(self.recent_page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        self.recent = [{"id": str(v["id"]), "workflow": v.get("workflow_name") or "",
                        "status": v["status"], "trigger": v["trigger_type"],
                        "alert_only": "alert-only" if v.get("alert_only") else "",
                        "created": fmt_time(v["created_at"], seconds=True),
                        "duration": fmt_ms(v["duration_ms"]),
                        "error": (v.get("error") or "")[:120]} for v in views]
        self.recent_loaded = True

    @rx.event
    def recent_next(self):
        """Next page of recent executions."""
        if self.recent_page < self.recent_page_count:
            self.recent_page += 1
            return MonitorState.load_recent

    @rx.event
    def recent_prev(self):
        """Previous page of recent executions."""
        if self.recent_page > 1:
            self.recent_page -= 1
            return MonitorState.load_recent

    # ------------------------------------------------------------------ detail
    def _execution_id(self) -> int:
        return last_path_int(self)

    @rx.event
    @off_loop
    def load_execution(self):
        """Check ownership and follow the execution's events. The same tab coming back to the
        same execution (a WebSocket reconnect re-runs on_load) keeps its view and resumes
        after the last event it applied; anything else resets the view first."""
        self._gen += 1
        if not self._resolve():
            self._view_key = ""
            return
        execution_id = self._execution_id()
        key = f"{self.user_id}:{execution_id}"
        if key == self._view_key and self.loaded and not self.error:
            return MonitorState.follow(self._gen)
        self._view_key = key
        self.loaded, self.error, self.live = False, "", False
        self.execution, self.nodes, self.levels = {}, {}, []
        self.visible_logs, self.spans, self.metrics = [], [], {}
        self._logs, self._last_event_ms = [], 0.0
        self._last_seq, self._start_ts, self._span_index, self._raw_spans = 0, 0.0, {}, []
        try:
            view = app().monitoring.get(self._actor(), execution_id)
            wf = app().workflows.get(self._actor(), view["workflow_id"])
        except AgenticError as exc:
            self.error, self.loaded = error_text(exc), True
            return
        spec = WorkflowSpec.model_validate(wf.definition)
        self.levels = [sorted(level) for level in spec.parallel_levels()]
        self.nodes = {n.id: {"type": n.type, "status": "pending", "duration": "",
                             "attempt": "", "progress": "0"} for n in spec.nodes}
        self.execution = {"id": str(execution_id), "workflow": wf.name,
                          "status": view["status"], "trigger": view["trigger_type"],
                          "alert_only": "alert-only" if view.get("alert_only") else "",
                          "created": fmt_time(view["created_at"], seconds=True),
                          "attempt": str(view["attempt"]), "error": view.get("error") or "",
                          "duration": fmt_ms(view["duration_ms"])}
        self.loaded = True
        return MonitorState.follow(self._gen)

    @rx.event
    def set_log_level(self, value: str):
        """Filter the log by minimum level."""
        self.log_level = value
        self._refilter()

    @rx.event
    def set_log_node(self, value: str):
        """Filter the log by node."""
        self.log_node = value
        self._refilter()

    @rx.event(background=True)
    async def follow(self, gen: int):
        """Push the execution's events into the state as they happen (catch-up first).
        Only for the view ``load_execution`` opened (``gen``), and once per view: a browser
        sending this event itself gets no second stream."""
        async with self:
            if gen != self._gen or not self.execution or self._follow_gen == gen:
                return
            self._follow_gen = gen
            execution_id, after = int(self.execution["id"]), self._last_seq
            token, actor = self.router.session.client_token, self._actor()
            presence = Presence(token, self.auth_token)
            self.live = True
        stream = app().monitoring.stream_execution(actor, execution_id, after_seq=after)
        try:
            async for batch in batches(stream):
                if await presence.gone_everywhere():
                    return
                if not batch:
                    continue
                async with self:
                    if gen != self._gen:
                        return
                    self._apply_batch(batch)
            metrics = await asyncio.to_thread(_final_metrics, actor, execution_id)
            async with self:
                if gen == self._gen and metrics:
                    self.metrics = metrics
        except AgenticError as exc:  # refused, e.g. all the user's live subscriptions taken
            yield live_refused(exc)
        finally:
            async with self:
                if self._follow_gen == gen:
                    self._follow_gen = -1
                if gen == self._gen:
                    self.live = False

    def _apply_batch(self, batch: list[dict[str, Any]]) -> None:
        """Fold new events into the view, touching only the vars that change (each touched
        var is resent to the browser, and the node-derived vars are recomputed)."""
        nodes: dict[str, dict[str, str]] | None = None  # copied on the first node change
        lines: list[dict[str, str]] = []
        spans_changed = False
        for event in batch:
            if event["seq"] <= self._last_seq:
                continue
            self._last_seq = event["seq"]
            kind, node_id, data = event["type"], event.get("node_id"), event.get("data") or {}
            ts = _ts(event["ts"])
            self._start_ts = self._start_ts or ts
            self._last_event_ms = ts * 1000
            if kind == "ExecutionStarted":
                self.execution["status"] = "running"
                self.execution["attempt"] = str(event.get("attempt", 1))
                if event.get("attempt", 1) > 1:  # a retry runs every node again
                    nodes = {n: {**v, "status": "pending", "progress": "0"}
                             for n, v in (nodes or self.nodes).items()}
            elif kind == "ExecutionFinished":
                self._finish(data)
            elif node_id and kind in NODE_STATUS_BY_EVENT and node_id in self.nodes:
                status = NODE_STATUS_BY_EVENT[kind]
                nodes = nodes if nodes is not None else dict(self.nodes)
                node = dict(nodes[node_id], status=status,
                            attempt=str(event.get("attempt", 1)),
                            progress="50" if status == "running" else "100")
                if data.get("duration_ms") is not None:
                    node["duration"] = fmt_ms(float(data["duration_ms"]))
                nodes[node_id] = node
                self._span(event, status, ts, data)
                spans_changed = True
            if kind in ("NodeLog", "NodeFailed", "ExecutionFinished", "ExecutionStarted") or \
                    event.get("message"):
                lines.append({"seq": str(event["seq"]), "time": event["ts"][11:23],
                              "level": event.get("level") or "info",
                              "node": node_id or "execution",
                              "message": event.get("message") or kind, "kind": kind})
        if nodes is not None:
            self.nodes = nodes
        if spans_changed:
            self._rebuild_spans()
        if lines:
            self._logs = [*self._logs, *lines][-MAX_LOGS:]
            shown = [line for line in lines if self._shown(line)]
            if shown:
                self.visible_logs = [*self.visible_logs, *shown][-VISIBLE_LOGS:]

    def _finish(self, data: dict[str, Any]) -> None:
        status = data.get("status", "")
        if status == "failed" and data.get("error_retryable") and \
                self.execution.get("status") not in TERMINAL_STATUSES:
            status = "failed (retrying)"
        self.execution["status"] = status
        self.execution["error"] = str(data.get("error") or "")
        self.metrics = _metrics_view({**(data.get("metrics") or {}), "status": status})

    def _span(self, event: dict[str, Any], status: str, ts: float, data: dict) -> None:
        key = f"{event['node_id']}#{event.get('attempt', 1)}"
        if status == "running" or key not in self._span_index:
            self._span_index[key] = len(self._raw_spans)
            self._raw_spans.append({"node": event["node_id"], "attempt": event.get("attempt", 1),
                                    "start": ts, "end": None, "status": status})
        span = self._raw_spans[self._span_index[key]]
        if status != "running":
            span["status"] = status
            span["end"] = ts
            if span["start"] == ts and data.get("duration_ms"):
                span["start"] = ts - float(data["duration_ms"]) / 1000

    def _rebuild_spans(self) -> None:
        if not self._raw_spans:
            self.spans = []
            return
        start = min(s["start"] for s in self._raw_spans)
        now = max([s["end"] or s["start"] for s in self._raw_spans] + [self._last_event_ms / 1000])
        total = max(now - start, 1e-3)
        out = []
        for s in self._raw_spans:
            end = s["end"] if s["end"] is not None else now
            out.append({"label": s["node"] + (f" (attempt {s['attempt']})"
                                              if s["attempt"] > 1 else ""),
                        "node": s["node"], "status": s["status"],
                        "left": f"{100 * (s['start'] - start) / total:.2f}%",
                        "width": f"{max(0.8, 100 * (end - s['start']) / total):.2f}%",
                        "duration": fmt_ms((end - s["start"]) * 1000)})
        self.spans = out


def _final_metrics(actor: Actor, execution_id: int) -> dict[str, str]:
    try:
        m = app().monitoring.metrics(actor, execution_id)
    except AgenticError:
        return {}
    return _metrics_view(m) if m.get("final") else {}


def _metrics_view(m: dict[str, Any]) -> dict[str, str]:
    memory = m.get("memory_used_mb")
    return {"ok": str(m.get("successful_nodes", 0)), "failed": str(m.get("failed_nodes", 0)),
            "skipped": str(m.get("skipped_nodes", "—")),
            "total": fmt_ms(m.get("total_time_ms")), "avg": fmt_ms(m.get("avg_node_time_ms")),
            "memory": f"{memory:.1f} MB" if memory is not None else "—"}
