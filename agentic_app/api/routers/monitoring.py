"""Monitoring routes: active executions, execution lists, timelines, metrics, and the
WebSockets that stream one execution's events or every event of the user's executions.

WebSocket ``/monitoring/executions/{id}`` protocol:

* authenticate with ``?token=<bearer token>``, an ``Authorization: Bearer`` header, or a first
  message ``{"token": "<bearer token>"}`` within :data:`AUTH_TIMEOUT_S` seconds;
* the server then sends every event of the execution as JSON (``{"type": "NodeStarted",
  "seq": 3, ...}``): the stored ones first, then live ones, in ``seq`` order, each once
  (``?after_seq=N`` resumes after seq N);
* when the execution is over it sends ``{"type": "closed", "status": <final status>,
  "last_seq": N}`` and closes with code 1000.
* Close codes: 4401 not authenticated, 4404 unknown execution or another user's.

WebSocket ``/monitoring/events`` (authenticated the same way) sends every event of the user's
executions as it happens (``?since=<ISO time>``: stored ones from then first); it never ends
by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, WebSocket
from fastapi.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from agentic_app.api.deps import AppDep, CurrentUser, DateRangeDep, IdPath, PageDep, as_utc
from agentic_app.api.errors import COMMON_ERRORS
from agentic_app.api.schemas import (
    MAX_ID,
    ActiveExecution,
    ExecutionMetricsPublic,
    ExecutionPublic,
    Page,
    Timeline,
)
from agentic_app.domain.errors import InvalidInputError, LimitExceededError, NotFoundError
from agentic_app.services.app import MAX_TOKEN_LENGTH, Actor, AppServices

router = APIRouter(prefix="/monitoring", tags=["monitoring"], responses=COMMON_ERRORS)

AUTH_TIMEOUT_S = 10.0
"""How long the WebSocket waits for a first ``{"token": ...}`` message."""
CLOSE_UNAUTHENTICATED = 4401
"""WebSocket close code: no valid token."""
CLOSE_NOT_FOUND = 4404
"""WebSocket close code: unknown execution, or another user's."""
CLOSE_LIMIT = 4429
"""WebSocket close code: a limit was hit (all live subscriptions of the user are open)."""

StatusName = Literal["pending", "running", "completed", "failed", "cancelled"]


@router.get("/active", response_model=Page[ActiveExecution])
def active(user: CurrentUser, app: AppDep, page: PageDep,
           workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
           ) -> Page[ActiveExecution]:
    """The user's pending and running executions, newest first, with their running nodes."""
    views, total = app.monitoring.active(user, workflow_id=workflow_id, offset=page.offset,
                                         limit=page.limit)
    return Page[ActiveExecution](items=[ActiveExecution.model_validate(v) for v in views],
                                 total=total, offset=page.offset, limit=page.limit)


@router.get("/executions", response_model=Page[ExecutionPublic])
def list_executions(user: CurrentUser, app: AppDep, page: PageDep,
                    dates: DateRangeDep,
                    status: Annotated[list[StatusName] | None, Query()] = None,
                    workflow_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                    scheduled_job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                    ) -> Page[ExecutionPublic]:
    """The user's executions, newest first; filter by status (repeatable), workflow,
    scheduled job and creation date."""
    views, total = app.monitoring.list(
        user, statuses=list(status or []) or None,
        workflow_id=workflow_id, scheduled_job_id=scheduled_job_id,
        created_after=dates.created_after, created_before=dates.created_before,
        offset=page.offset, limit=page.limit)
    return Page[ExecutionPublic](items=[ExecutionPublic.model_validate(v) for v in views],
                                 total=total, offset=page.offset, limit=page.limit)


@router.get("/executions/{execution_id}", response_model=ExecutionPublic)
def get_execution(execution_id: IdPath, user: CurrentUser, app: AppDep) -> ExecutionPublic:
    """One of the user's executions."""
    return ExecutionPublic.model_validate(app.monitoring.get(user, execution_id))


@router.get("/executions/{execution_id}/timeline", response_model=Timeline)
def execution_timeline(execution_id: IdPath, user: CurrentUser, app: AppDep) -> Timeline:
    """Per node and attempt: start, end, duration, status, error; in start order."""
    return Timeline.model_validate(app.monitoring.timeline(user, execution_id))


@router.get("/executions/{execution_id}/metrics", response_model=ExecutionMetricsPublic)
def execution_metrics(execution_id: IdPath, user: CurrentUser,
                      app: AppDep) -> ExecutionMetricsPublic:
    """Node counts, total and average node time, memory (final once the execution ended)."""
    return ExecutionMetricsPublic.model_validate(app.monitoring.metrics(user, execution_id))


# -- WebSocket ---------------------------------------------------------------------------------


def _header_token(websocket: WebSocket) -> str | None:
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def _first_message_token(websocket: WebSocket) -> str | None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
        data = json.loads(text)
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):
        return None  # silent, malformed, or gone before authenticating
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


async def _close(websocket: WebSocket, code: int, detail: str) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_json({"type": "error", "code": code, "detail": detail})
        await websocket.close(code=code, reason=detail[:120])


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _accept(websocket: WebSocket,
                  token: str | None) -> tuple[AppServices, Actor] | None:
    """Accept the socket and find its user: the query token, the Authorization header or the
    first message. (facade, user), or None (after closing with 4401) without a valid one."""
    app: AppServices = websocket.app.state.services
    await websocket.accept()
    token = token or _header_token(websocket) or await _first_message_token(websocket)
    user = await run_in_threadpool(app.auth.actor_for_token, token)
    if user is None:
        await _close(websocket, CLOSE_UNAUTHENTICATED, "not authenticated")
        return None
    return app, user


async def _relay(websocket: WebSocket, stream: AsyncIterator[dict[str, Any]],
                 on_event: Callable[[dict[str, Any]], None] = lambda _event: None) -> bool:
    """Send every event of ``stream`` until it ends (True) or the client goes (False)."""

    async def pump() -> None:
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                await websocket.send_json(event)
                on_event(event)

    pump_task = asyncio.create_task(pump())
    watch_task = asyncio.create_task(_wait_for_disconnect(websocket))
    done, pending = await asyncio.wait({pump_task, watch_task},
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if pump_task not in done or pump_task.exception() is not None:
        error = pump_task.exception() if pump_task in done else None
        if isinstance(error, LimitExceededError):
            await _close(websocket, CLOSE_LIMIT, error.message)
        elif error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
            raise error
        return False
    return True


@router.websocket("/executions/{execution_id}")
async def watch_execution(
    websocket: WebSocket,
    execution_id: int,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN_LENGTH)] = None,
    after_seq: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> None:
    """Stream one execution's events: stored, then live, in order; then ``closed``."""
    opened = await _accept(websocket, token)
    if opened is None:
        return
    app, user = opened
    try:
        if not 1 <= execution_id <= MAX_ID:  # out of the id column's range: unknown
            raise NotFoundError(f"execution {execution_id} not found", field="execution_id")
        await run_in_threadpool(app.monitoring.owned, user, execution_id)
    except NotFoundError:
        await _close(websocket, CLOSE_NOT_FOUND, f"execution {execution_id} not found")
        return
    last: dict[str, Any] = {"seq": after_seq, "event": None}

    def seen(event: dict[str, Any]) -> None:
        last["seq"], last["event"] = event["seq"], event

    stream = app.monitoring.stream_execution(user, execution_id, after_seq=after_seq)
    if not await _relay(websocket, stream, seen):
        return
    final: dict[str, Any] = {"type": "closed", "execution_id": execution_id,
                             "status": await app.monitoring.final_status(user, execution_id,
                                                                         last["event"]),
                             "last_seq": last["seq"]}
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.send_json(final)
            await websocket.close(code=1000)


@router.websocket("/events")
async def watch_my_events(
    websocket: WebSocket,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN_LENGTH)] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601; naive = UTC")] = None,
) -> None:
    """Stream every event of the user's executions as it happens (stored ones since
    ``since`` first); it ends only when the client goes."""
    opened = await _accept(websocket, token)
    if opened is None:
        return
    app, user = opened
    try:
        start = as_utc(since, "since")
    except InvalidInputError as exc:
        await _close(websocket, 4422, exc.message)
        return
    await _relay(websocket, app.monitoring.stream_user(user, since=start))
