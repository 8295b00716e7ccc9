"""Shared helpers of the event tests: rows to hang events on, event factories, stream runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from agentic_app.db.engine import get_engine
from agentic_app.db.models import User, Workflow, WorkflowExecution
from agentic_app.domain.events import Event, ExecutionFinished, ExecutionStarted, NodeLog

T0 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


def make_user_and_workflow(url: str, name: str = "ann") -> tuple[int, int]:
    """A user and one of their workflows; (user id, workflow id)."""
    with Session(get_engine(url)) as session:
        user = User(username=name, password_hash="x")
        session.add(user)
        session.flush()
        flow = Workflow(user_id=user.id, name="w", definition={})
        session.add(flow)
        session.commit()
        return user.id, flow.id


def make_execution(url: str, user_id: int, workflow_id: int, *, status: str = "running",
                   created_at: datetime | None = None) -> int:
    """A workflow_executions row; its id."""
    with Session(get_engine(url)) as session:
        row = WorkflowExecution(workflow_id=workflow_id, user_id=user_id, status=status)
        if created_at is not None:
            row.created_at = created_at
        session.add(row)
        session.commit()
        return row.id


def set_status(url: str, execution_id: int, status: str) -> None:
    """Set an execution's status (what the queue does when it ends)."""
    with Session(get_engine(url)) as session:
        row = session.get(WorkflowExecution, execution_id)
        row.status = status
        session.add(row)
        session.commit()


def run_events(execution_id: int, n: int, *, start: int = 1, attempt: int = 1,
               finish: str | None = "completed", retryable: bool = False) -> list[Event]:
    """Events seq start..start+n-1: ExecutionStarted, NodeLogs, then ExecutionFinished."""
    events: list[Event] = []
    for seq in range(start, start + n):
        ts = T0 + timedelta(milliseconds=seq)
        common = {"execution_id": execution_id, "seq": seq, "ts": ts, "attempt": attempt}
        if seq == start:
            events.append(ExecutionStarted(**common, data={"attempt": attempt}))
        elif seq == start + n - 1 and finish:
            events.append(ExecutionFinished(**common, data={
                "status": finish, "error_retryable": retryable, "metrics": {}}))
        else:
            events.append(NodeLog(**common, node_id="a", message=f"line {seq}"))
    return events


async def collect(stream: AsyncIterator[dict[str, Any]], *, limit: int = 10_000,
                  on_item=None) -> list[dict[str, Any]]:
    """Every item of ``stream`` (calling ``on_item(item)`` after each) up to ``limit``."""
    items = []
    async for item in stream:
        items.append(item)
        if on_item is not None:
            await on_item(item)
        if len(items) >= limit:
            break
    return items


def run(coro, timeout: float = 15.0):
    """Run a coroutine with a timeout (a hung stream fails the test instead of hanging it)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
