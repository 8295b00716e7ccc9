"""Execution monitoring: active executions, execution lists, per-node timelines, metrics,
and the live event streams (one execution, or every execution of the user).

Every method checks ownership: another user's execution is reported as not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from agentic_app.db.models import (
    ExecutionMetrics,
    ExecutionStatus,
    JobQueueEntry,
    NodeExecution,
    NodeStatus,
    Workflow,
    WorkflowExecution,
)
from agentic_app.db.queries import count_rows, filter_owned
from agentic_app.domain.errors import AgenticError, NotFoundError
from agentic_app.engine.events.hub import PubSubHub
from agentic_app.engine.events.stream import (
    TERMINAL_STATUSES,
    stream_execution_events,
    stream_user_events,
)
from agentic_app.services.base import Actor, Service

ACTIVE_STATUSES = (ExecutionStatus.pending.value, ExecutionStatus.running.value)
"""Statuses of executions that are not over yet."""
__all__ = ["ACTIVE_STATUSES", "TERMINAL_STATUSES", "MonitoringService", "execution_view"]


def _duration_ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) / timedelta(milliseconds=1), 3)


def execution_view(row: WorkflowExecution, *, workflow_name: str | None = None,
                   job_id: int | None = None) -> dict[str, Any]:
    """API/UI view of an execution row: its fields plus workflow name, job id and duration."""
    data = row.model_dump()
    data.update(workflow_name=workflow_name, job_id=job_id,
                duration_ms=_duration_ms(row.started_at, row.finished_at))
    return data


class MonitoringService(Service):
    """The acting user's executions: views, timelines, metrics, live streams."""

    def owned(self, actor: Actor, execution_id: int) -> WorkflowExecution:
        """The execution row if it belongs to the user (the one ownership check of
        executions); NotFoundError otherwise."""
        with self.db.session() as s:
            row = s.get(WorkflowExecution, execution_id)
            if row is None or row.user_id != actor.id:
                raise NotFoundError(f"execution {execution_id} not found",
                                    field="execution_id")
            return row

    def list(self, actor: Actor, *, statuses: list[str] | None = None,
             workflow_id: int | None = None, scheduled_job_id: int | None = None,
             created_after: datetime | None = None, created_before: datetime | None = None,
             offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """The user's executions, newest first, filtered and paginated; (views, total)."""
        with self.db.session() as s:
            stmt = filter_owned(select(WorkflowExecution), WorkflowExecution, user_id=actor.id,
                                statuses=statuses, workflow_id=workflow_id,
                                scheduled_job_id=scheduled_job_id, created_after=created_after,
                                created_before=created_before)
            total = count_rows(s, stmt)
            page = stmt.order_by(col(WorkflowExecution.id).desc()).offset(offset).limit(limit)
            sub = page.subquery()
            rows = s.exec(
                select(WorkflowExecution, Workflow.name, JobQueueEntry.id)
                .join(sub, sub.c.id == WorkflowExecution.id)
                .join(Workflow, Workflow.id == WorkflowExecution.workflow_id, isouter=True)
                .join(JobQueueEntry, JobQueueEntry.execution_id == WorkflowExecution.id,
                      isouter=True)
                .order_by(col(WorkflowExecution.id).desc())).all()
            return [execution_view(ex, workflow_name=name, job_id=job_id)
                    for ex, name, job_id in rows], int(total)


    def get(self, actor: Actor, execution_id: int) -> dict[str, Any]:
        """One of the user's executions (view); NotFoundError otherwise."""
        self.owned(actor, execution_id)
        with self.db.session() as s:
            ex, name, job_id = s.exec(
                select(WorkflowExecution, Workflow.name, JobQueueEntry.id)
                .join(Workflow, Workflow.id == WorkflowExecution.workflow_id, isouter=True)
                .join(JobQueueEntry, JobQueueEntry.execution_id == WorkflowExecution.id,
                      isouter=True)
                .where(WorkflowExecution.id == execution_id)).first()
            return execution_view(ex, workflow_name=name, job_id=job_id)


    def active(self, actor: Actor, *, workflow_id: int | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """The user's pending and running executions with their running nodes; (views, total)."""
        views, total = self.list(actor, statuses=[*ACTIVE_STATUSES], workflow_id=workflow_id,
                                 offset=offset, limit=limit)
        ids = [v["id"] for v in views]
        running: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            with self.db.session() as s:
                for ex_id, node_id in s.exec(
                        select(NodeExecution.execution_id, NodeExecution.node_id)
                        .where(col(NodeExecution.execution_id).in_(ids),
                               NodeExecution.status == NodeStatus.running.value)
                        .order_by(col(NodeExecution.id))):
                    running[ex_id].append(node_id)
        for view in views:
            view["running_nodes"] = running.get(view["id"], [])
        return views, total


    def timeline(self, actor: Actor, execution_id: int) -> dict[str, Any]:
        """Per node and attempt: start, end, duration, status, error; in start order."""
        ex = self.owned(actor, execution_id)
        with self.db.session() as s:
            nodes = s.exec(select(NodeExecution)
                           .where(NodeExecution.execution_id == execution_id)
                           .order_by(col(NodeExecution.attempt),
                                     col(NodeExecution.started_at).is_(None),
                                     col(NodeExecution.started_at), col(NodeExecution.id))).all()
        items = []
        for n in nodes:
            duration = n.duration_ms
            if duration is None:
                duration = _duration_ms(n.started_at, n.finished_at)
            items.append({"node_id": n.node_id, "node_type": n.node_type, "status": n.status,
                          "attempt": n.attempt, "started_at": n.started_at,
                          "finished_at": n.finished_at, "duration_ms": duration, "error": n.error})
        return {"execution_id": ex.id, "status": ex.status, "attempt": ex.attempt,
                "started_at": ex.started_at, "finished_at": ex.finished_at,
                "duration_ms": _duration_ms(ex.started_at, ex.finished_at), "nodes": items}


    def metrics(self, actor: Actor, execution_id: int) -> dict[str, Any]:
        """Summary figures of an execution: the stored execution_metrics row when the execution
        has finished, else computed from its node executions so far (``final`` says which)."""
        ex = self.owned(actor, execution_id)
        with self.db.session() as s:
            stored = s.exec(select(ExecutionMetrics)
                            .where(ExecutionMetrics.execution_id == execution_id)
                            .order_by(col(ExecutionMetrics.id).desc())).first()
            per_status = dict(s.exec(select(NodeExecution.status, func.count())
                                     .where(NodeExecution.execution_id == execution_id)
                                     .group_by(NodeExecution.status)).all())
            durations = [d for d in s.exec(select(NodeExecution.duration_ms).where(
                NodeExecution.execution_id == execution_id,
                col(NodeExecution.duration_ms).is_not(None))) if d is not None]
            attempts = s.exec(select(func.max(NodeExecution.attempt))
                              .where(NodeExecution.execution_id == execution_id)).one()
        out: dict[str, Any] = {
            "execution_id": ex.id, "status": ex.status, "attempts": max(ex.attempt or 0,
                                                                          attempts or 0),
            "duration_ms": _duration_ms(ex.started_at, ex.finished_at),
            "nodes_by_status": {k: int(v) for k, v in per_status.items()},
        }
        if stored is not None:
            out.update(final=True, total_nodes=stored.total_nodes,
                       successful_nodes=stored.successful_nodes, failed_nodes=stored.failed_nodes,
                       total_time_ms=stored.total_time_ms, avg_node_time_ms=stored.avg_node_time_ms,
                       memory_used_mb=float(stored.memory_used_mb))
        else:
            total_ms = sum(durations)
            out.update(final=False, total_nodes=int(sum(per_status.values())),
                       successful_nodes=int(per_status.get(NodeStatus.succeeded.value, 0)),
                       failed_nodes=int(per_status.get(NodeStatus.failed.value, 0)),
                       total_time_ms=round(total_ms),
                       avg_node_time_ms=round(total_ms / len(durations)) if durations else 0,
                       memory_used_mb=None)
        return out

    async def stream_execution(self, actor: Actor, execution_id: int, *,
                               after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every event of one of the user's executions with ``seq > after_seq``: stored ones,
        then live ones, in order, each once, until the execution is over. NotFoundError
        (before any event) when it is not the user's, LimitExceededError when the user holds
        all their live subscriptions (:mod:`.live_slots`). Close it with ``aclosing``."""
        await asyncio.to_thread(self.owned, actor, execution_id)
        async with self._app.live_slots.hold(actor.id):
            redis_url = await asyncio.to_thread(self._app.redis_url)
            stream = stream_execution_events(execution_id, db=self.db, after_seq=after_seq,
                                             redis_url=redis_url, hub=self._hub(redis_url))
            try:
                async for event in stream:
                    yield event
            finally:
                await stream.aclose()

    async def stream_user(self, actor: Actor, *, since: datetime | None = None,
                          ) -> AsyncIterator[dict[str, Any]]:
        """Events of all of the user's executions as they happen (stored ones with
        ``ts >= since`` first, when given); never ends by itself. LimitExceededError when the
        user holds all their live subscriptions."""
        async with self._app.live_slots.hold(actor.id):
            redis_url = await asyncio.to_thread(self._app.redis_url)
            stream = stream_user_events(actor.id, db=self.db, redis_url=redis_url,
                                        hub=self._hub(redis_url), since=since)
            try:
                async for event in stream:
                    yield event
            finally:
                await stream.aclose()

    def _hub(self, redis_url: str | None) -> PubSubHub | None:
        """The loop's shared pub/sub connection (None without Redis: database polling)."""
        return self._app.live_hub(redis_url) if redis_url else None

    def owned_events(self, actor: Actor, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events whose execution is the user's (blocking)."""
        out = []
        for event in events:
            try:
                self.owned(actor, int(event["execution_id"]))
            except (AgenticError, KeyError, TypeError, ValueError):
                continue
            out.append(event)
        return out

    async def final_status(self, actor: Actor, execution_id: int,
                           last_event: dict[str, Any] | None) -> str:
        """The status a stream that just ended closes with: the one its closing
        ExecutionFinished carries (the queue may not have written it to the execution row
        yet), else the row's."""
        if last_event is not None and last_event.get("type") == "ExecutionFinished":
            status = (last_event.get("data") or {}).get("status")
            if isinstance(status, str):
                return status
        row = await asyncio.to_thread(self.owned, actor, execution_id)
        return row.status
