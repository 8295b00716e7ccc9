"""Catch-up-then-live event streams: the one place that turns at-most-once pub/sub into a
complete, ordered, duplicate-free sequence (used by the monitoring WebSocket and Reflex).

:func:`stream_execution_events` follows one execution:

1. subscribe to the execution channel FIRST (so nothing published from now on is missed),
2. read the stored events with ``seq > after_seq`` from the database, in order,
3. then follow live messages: a ``seq`` already yielded is dropped (no duplicate); a ``seq``
   that is not ``last + 1`` means a message was lost, so the missing range (and the rest) is
   read from the database before going on (no gap). Events are published only after they are
   committed, so the database always holds whatever seq a live message shows.
4. the database is also re-read every ``idle_poll_s`` seconds whatever Redis does, which
   bounds the delay if the last message (e.g. ``ExecutionFinished``) is the one lost.

It ends after the ``ExecutionFinished`` that closes the execution: status completed or
cancelled, or failed and not retryable; after a retryable failure it asks the database
(``workflow_executions.status`` terminal = the queue will not retry) and otherwise follows
the next attempt. It also ends when the execution row is already terminal and every stored
event was yielded (``ExecutionFinished`` published before we subscribed is read from the DB),
and at once when the execution does not exist.

Redis outage: if subscribing fails or the connection drops, the stream keeps going by polling
the database every ``fallback_poll_s`` seconds and tries to subscribe again at that pace;
once back it re-subscribes, then re-reads the database (same order as at start).

Subscriptions use a connection of their own, or - given ``hub`` - the event loop's shared
pub/sub connection (:mod:`agentic_app.engine.events.hub`); the guarantees are the same.

Yielded items are dicts shaped like ``Event.to_dict()`` plus ``user_id``. Database rows have
no attempt column: ``attempt`` is the number of ``ExecutionStarted`` events up to that seq.
Close early with ``contextlib.aclosing(stream)`` so the subscription is released at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from agentic_app.db.engine import Database
from agentic_app.db.models import ExecutionEvent, ExecutionStatus, WorkflowExecution
from agentic_app.engine.events.bus import (
    async_client,
    decode_events,
    execution_channel,
    user_channel,
)
from agentic_app.engine.events.hub import PubSubHub

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset(
    {ExecutionStatus.completed.value, ExecutionStatus.failed.value,
     ExecutionStatus.cancelled.value}
)
"""Execution statuses after which no event is expected any more."""
PAGE_SIZE = 500
"""Events read from the database per query."""
FINAL_CHECK_S = 0.5
"""After a retryable ExecutionFinished, how soon the database is asked whether it was final."""
USER_PAGE_SIZE = 1000
"""User events read from the database per query."""
USER_OVERLAP = timedelta(seconds=30)
"""User streams re-read this far behind their cursor (events commit slightly after their ts)."""

_REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True)
class _ExecutionState:
    status: str
    user_id: int


def _attempt_column() -> Any:
    """Number of ExecutionStarted events of the same execution up to each row's seq."""
    started = aliased(ExecutionEvent)
    return (
        select(func.count(started.id))
        .where(started.execution_id == ExecutionEvent.execution_id,
               started.type == "ExecutionStarted", started.seq <= ExecutionEvent.seq)
        .correlate(ExecutionEvent)
        .scalar_subquery()
    )


def _as_dict(row: ExecutionEvent, attempt: int, user_id: int) -> dict[str, Any]:
    return {
        "type": row.type,
        "execution_id": row.execution_id,
        "seq": row.seq,
        "ts": row.ts.astimezone(UTC).isoformat(),
        "attempt": max(int(attempt or 0), 1),
        "node_id": row.node_id,
        "level": row.level,
        "message": row.message,
        "data": row.data or {},
        "user_id": user_id,
    }


def read_execution_events(
    db: Database, execution_id: int, after_seq: int, limit: int = PAGE_SIZE
) -> tuple[_ExecutionState | None, list[dict[str, Any]]]:
    """The execution's (status, owner), read first, then up to ``limit`` stored events with
    ``seq > after_seq`` in order; (None, []) when the execution does not exist. Blocking."""
    with db.session() as session:
        execution = session.get(WorkflowExecution, execution_id)
        if execution is None:
            return None, []
        state = _ExecutionState(status=execution.status, user_id=execution.user_id)
        rows = session.execute(
            select(ExecutionEvent, _attempt_column())
            .where(ExecutionEvent.execution_id == execution_id, ExecutionEvent.seq > after_seq)
            .order_by(ExecutionEvent.seq)
            .limit(limit)
        ).all()
        return state, [_as_dict(row, attempt, state.user_id) for row, attempt in rows]


def read_user_events(
    db: Database, user_id: int, since: datetime, limit: int = USER_PAGE_SIZE
) -> list[dict[str, Any]]:
    """Up to ``limit`` stored events of ``user_id``'s executions with ``ts >= since``,
    ordered by (ts, execution, seq). Blocking."""
    with db.session() as session:
        rows = session.execute(
            select(ExecutionEvent, _attempt_column())
            .join(WorkflowExecution, WorkflowExecution.id == ExecutionEvent.execution_id)
            .where(WorkflowExecution.user_id == user_id, ExecutionEvent.ts >= since)
            .order_by(ExecutionEvent.ts, ExecutionEvent.execution_id, ExecutionEvent.seq)
            .limit(limit)
        ).all()
        return [_as_dict(row, attempt, user_id) for row, attempt in rows]


def ends_stream(event: dict[str, Any]) -> bool | None:
    """True when ``event`` closes the execution, False when it does not, None when only the
    database can tell (an ExecutionFinished after a retryable failure)."""
    if event.get("type") != "ExecutionFinished":
        return False
    data = event.get("data") or {}
    if data.get("status") == "failed" and data.get("error_retryable"):
        return None
    return True


class _OwnSubscription:
    """A subscription on a connection of its own (when no hub is shared)."""

    def __init__(self, client: Any, pubsub: Any) -> None:
        self.client, self.pubsub = client, pubsub

    @classmethod
    async def open(cls, redis_url: str, channel: str) -> _OwnSubscription:
        client = async_client(redis_url)
        sub = cls(client, client.pubsub(ignore_subscribe_messages=True))
        try:
            await sub.pubsub.subscribe(channel)
        except BaseException:
            await sub.close()
            raise
        return sub

    async def get(self, timeout: float) -> dict[str, Any] | None:
        return await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)

    async def close(self) -> None:
        for closable in (self.pubsub, self.client):
            try:
                await closable.aclose()
            except Exception:  # closing a broken connection may fail; nothing to keep
                logger.debug("closing a subscription failed", exc_info=True)


class _LiveChannel:
    """One asyncio subscription that can be lost and re-opened (at most every ``retry_s``),
    on a connection of its own or through a shared ``hub``."""

    def __init__(self, redis_url: str | None, channel: str, retry_s: float,
                 hub: PubSubHub | None = None) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.retry_s = retry_s
        self.hub = hub
        self._sub: Any = None
        self._next_try = 0.0
        self._pending: deque[dict[str, Any]] = deque()  # rest of the last batch message

    @property
    def up(self) -> bool:
        """True while subscribed."""
        return self._sub is not None

    async def ensure(self) -> bool:
        """Subscribe if not subscribed (rate-limited); True when subscribed."""
        if self._sub is not None:
            return True
        loop = asyncio.get_running_loop()
        if (self.redis_url is None and self.hub is None) or loop.time() < self._next_try:
            return False
        try:
            if self.hub is not None:
                self._sub = await self.hub.subscribe(self.channel)
            else:
                self._sub = await _OwnSubscription.open(self.redis_url, self.channel)
            return True
        except _REDIS_ERRORS as exc:
            logger.info("subscribe to %s failed (%s); polling the database", self.channel, exc)
            await self.drop(retry_after=True)
            return False

    async def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event message within ``timeout`` seconds, else None.
        Raises ConnectionError (after dropping the subscription) when Redis is lost."""
        if self._pending:
            return self._pending.popleft()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                message = await self._sub.get(remaining)
            except (*_REDIS_ERRORS, ConnectionError) as exc:
                logger.info("lost %s (%s); polling the database", self.channel, exc)
                await self.drop(retry_after=True)
                raise ConnectionError(str(exc)) from exc
            self._pending.extend(decode_events(message))
            if self._pending:
                return self._pending.popleft()
        return None

    async def drop(self, *, retry_after: bool = False) -> None:
        """Close the subscription (and wait ``retry_s`` before the next try when asked)."""
        sub, self._sub = self._sub, None
        self._pending.clear()
        if retry_after:
            self._next_try = asyncio.get_running_loop().time() + self.retry_s
        if sub is not None:
            try:
                await sub.close()
            except Exception:  # leaving a broken connection may fail; nothing to keep
                logger.debug("closing %s failed", self.channel, exc_info=True)


async def stream_execution_events(
    execution_id: int,
    *,
    db: Database,
    after_seq: int = 0,
    redis_url: str | None = None,
    hub: PubSubHub | None = None,
    idle_poll_s: float = 5.0,
    fallback_poll_s: float = 1.0,
) -> AsyncIterator[dict[str, Any]]:
    """Every event of ``execution_id`` with ``seq > after_seq``, in seq order, each once:
    stored ones first, then live ones, until the execution is over (see module docstring).
    Live through ``hub`` when given, else on a connection to ``redis_url``; neither means
    database polling only."""
    live = _LiveChannel(redis_url, execution_channel(execution_id), retry_s=fallback_poll_s,
                        hub=hub)
    last = after_seq
    maybe_final = False
    try:
        await live.ensure()  # subscribe before reading the database: nothing falls between
        while True:
            state, events = await asyncio.to_thread(
                read_execution_events, db, execution_id, last)
            if state is None:
                return
            for event in events:
                yield event
                last = event["seq"]
                end = ends_stream(event)
                if end:
                    return
                maybe_final = end is None
            if len(events) == PAGE_SIZE:
                continue
            if state.status in TERMINAL_STATUSES:
                return  # status read before the events: everything stored was yielded
            wait_s = min(idle_poll_s, FINAL_CHECK_S) if maybe_final else idle_poll_s
            if not await live.ensure():
                await asyncio.sleep(min(wait_s, fallback_poll_s))
                continue
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_s
            while (remaining := deadline - loop.time()) > 0:
                try:
                    event = await live.next_event(remaining)
                except ConnectionError:
                    break
                if event is None:
                    break
                seq = int(event["seq"])
                if seq <= last:
                    continue  # already yielded (from the database or a duplicate)
                if seq != last + 1:
                    break  # a message was lost: read the gap (and this one) from the DB
                yield event
                last = seq
                end = ends_stream(event)
                if end:
                    return
                maybe_final = end is None
                if maybe_final:
                    deadline = min(deadline, loop.time() + FINAL_CHECK_S)
    finally:
        await live.drop()


def _parse_ts(value: Any) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return ts if isinstance(ts, datetime) and ts.tzinfo is not None else None


async def stream_user_events(
    user_id: int,
    *,
    db: Database,
    redis_url: str | None,
    hub: PubSubHub | None = None,
    since: datetime | None = None,
    idle_poll_s: float = 5.0,
    fallback_poll_s: float = 1.0,
) -> AsyncIterator[dict[str, Any]]:
    """Events of all of ``user_id``'s executions as they happen (for toasts and
    notifications); never ends by itself. With ``since`` (aware datetime), stored events
    with ``ts >= since`` come first. Each (execution, seq) is yielded at most once. While
    Redis is down, the database is polled every ``fallback_poll_s`` seconds; live delivery
    itself does not fill gaps (use :func:`stream_execution_events` for a complete history).
    Live through ``hub`` when given, else on a connection to ``redis_url``."""
    live = _LiveChannel(redis_url, user_channel(user_id), retry_s=fallback_poll_s, hub=hub)
    seen: dict[Any, int] = {}
    floor = since or datetime.now(UTC)
    cursor = floor

    def fresh(event: dict[str, Any]) -> bool:
        nonlocal cursor
        key, seq = event.get("execution_id"), int(event.get("seq", 0))
        if seq <= seen.get(key, 0):
            return False
        seen[key] = seq
        ts = _parse_ts(event.get("ts"))
        if ts is not None and ts > cursor:
            cursor = ts
        return True

    need_db, first = since is not None, True
    try:
        while True:
            was_up = live.up
            up = await live.ensure()  # (re)subscribe before reading the database
            if need_db or (up and not was_up and not first):
                start = floor if first else max(floor, cursor - USER_OVERLAP)
                while True:
                    events = await asyncio.to_thread(
                        read_user_events, db, user_id, start, USER_PAGE_SIZE)
                    new = [event for event in events if fresh(event)]
                    for event in new:
                        yield event
                    if len(events) < USER_PAGE_SIZE or not new:
                        break
                    start = cursor
            need_db, first = False, False
            if not up:
                await asyncio.sleep(fallback_poll_s)
                need_db = True
                continue
            try:
                event = await live.next_event(idle_poll_s)
            except ConnectionError:
                need_db = True
                continue
            if event is not None and fresh(event):
                yield event
    finally:
        await live.drop()
