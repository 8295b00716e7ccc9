"""Live plumbing for background tasks: batch an event stream, know when the browser is gone,
and the user-wide watcher that raises failure toasts and refreshes the active list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from agentic_app import routes
from agentic_app.services.app import Actor, AgenticError
from agentic_app.state.base import AppState
from agentic_app.state.common import app, error_text, fmt_ms
from agentic_app.state.guard import SESSION_CHECK_S, session_alive
from agentic_app.state.offloop import off_loop

log = logging.getLogger(__name__)

IDLE_CHECK_S = SESSION_CHECK_S
"""How often an idle stream checks that its browser is still there and still signed in."""
GONE_AFTER_S = 90.0
"""A browser disconnected this long stops its background streams (reconnects within it
find the state up to date)."""
BURST_LINGER_S = 0.004
"""How long a batch that came as a burst waits for the rest of the burst."""
ACTIVE_LIMIT = 50
"""Active executions shown on the monitor list."""

_USER_WATCHERS: set[str] = set()
"""Client tokens whose user-event watcher runs in this process."""


def _namespace() -> Any:
    """The app's socket.io namespace, or None outside a running app (tests)."""
    try:
        from reflex.utils.prerequisites import get_app

        return get_app().app.event_namespace
    except Exception:
        return None


def client_connected(token: str) -> bool:
    """True while the browser tab of ``token`` has a WebSocket to this worker process (or
    when the app cannot tell)."""
    namespace = _namespace()
    if namespace is None:
        return True
    try:
        return token in namespace.token_to_sid
    except Exception:
        return True


async def client_connected_anywhere(token: str) -> bool:
    """True while the browser tab of ``token`` has a WebSocket to any backend worker: with
    state in Redis a reconnect may land on another worker than the one running our task."""
    if client_connected(token):
        return True
    manager = getattr(_namespace(), "_token_manager", None)  # reflex 0.10: no public accessor
    if manager is None:
        return False
    try:
        return bool(await manager.is_token_connected(token))
    except Exception:  # Redis hiccup: do not stop a stream for it
        return True


async def batches(stream: AsyncIterator[dict[str, Any]], idle_s: float = IDLE_CHECK_S,
                  linger_s: float = BURST_LINGER_S) -> AsyncIterator[list[dict[str, Any]]]:
    """Items of ``stream`` grouped in the batches that arrived together; an empty batch every
    ``idle_s`` seconds without items (so the consumer can check whether to stop). An
    AgenticError of the stream (a refusal such as the live-subscription cap) is raised to the
    consumer after the items before it; other stream errors are logged and end the batches.

    A lone item is yielded at once; when several were already waiting (a burst), the batch
    waits ``linger_s`` more for the rest of the burst, so a burst costs one state update."""
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump() -> None:
        try:
            async with contextlib.aclosing(stream) as events:
                async for item in events:
                    queue.put_nowait(item)
        finally:
            queue.put_nowait(done)

    def drain(batch: list[dict[str, Any]]) -> bool:
        """Move the waiting items into ``batch``; True when the stream ended."""
        while not queue.empty():
            item = queue.get_nowait()
            if item is done:
                return True
            batch.append(item)
        return False

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), idle_s)
            except TimeoutError:
                yield []
                continue
            batch, finished = [], first is done
            if not finished:
                batch.append(first)
                finished = drain(batch)
                if not finished and len(batch) > 1 and linger_s > 0:
                    await asyncio.sleep(linger_s)
                    finished = drain(batch)
            if batch:
                yield batch
            if finished:
                error = task.exception() if task.done() else None
                if isinstance(error, AgenticError):  # refused (e.g. the live cap): tell them
                    raise error
                if error is not None:
                    log.warning("event stream ended with %r", error)
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class Presence:
    """Tracks how long a browser has been away, and whether its session still holds."""

    def __init__(self, token: str, session_token: str) -> None:
        self.token, self.session_token = token, session_token
        self.away_since: float | None = None
        self.signed_out = False

    async def gone_everywhere(self) -> bool:
        """True once the tab's session was revoked or expired (``signed_out``: the session
        guard's check, at most SESSION_CHECK_S old), or once the tab has had no WebSocket to
        any backend worker for GONE_AFTER_S (with state in Redis a reconnect may land on
        another worker than this task's)."""
        if not await session_alive(self.session_token):
            self.signed_out = True
            return True
        if await client_connected_anywhere(self.token):
            self.away_since = None
            return False
        now = time.monotonic()
        self.away_since = self.away_since or now
        return now - self.away_since > GONE_AFTER_S


def live_refused(exc: AgenticError) -> Any:
    """The toast of a live view the facade refused (the message names the limit)."""
    return rx.toast.error(f"Live updates stopped: {error_text(exc)}", duration=10000,
                          id="live-refused")


def active_rows(actor: Actor) -> list[dict[str, str]]:
    """The user's active executions as table rows."""
    views, _ = app().monitoring.active(actor, limit=ACTIVE_LIMIT)
    return [{"id": str(v["id"]), "workflow": v.get("workflow_name") or f"#{v['workflow_id']}",
             "status": v["status"], "trigger": v["trigger_type"],
             "running_nodes": ", ".join(v["running_nodes"]) or "—",
             "attempt": str(v["attempt"]),
             "started": (v["started_at"] or v["created_at"]).strftime("%H:%M:%S"),
             "duration": fmt_ms(v["duration_ms"])} for v in views]


class LiveState(AppState):
    """User-wide live facts: active executions (monitor list) and failure toasts anywhere."""

    active: list[dict[str, str]] = []
    active_loaded: bool = False
    watching: bool = False

    @rx.event
    @off_loop
    def load_active(self):
        """Read the user's active executions once (then the watcher keeps them fresh)."""
        if not self._resolve():
            return
        self.active = active_rows(self._actor())
        self.active_loaded = True

    @rx.event
    def start_watch(self):
        """Start the user-event watcher of this tab unless it already runs."""
        if self._resolve() and self.router.session.client_token not in _USER_WATCHERS:
            return LiveState.watch_user_events

    @rx.event(background=True)
    async def watch_user_events(self):
        """Follow every event of the user's executions: toast failures, refresh the active
        list when an execution starts or ends (event-driven, no polling). A browser can
        send this event itself: the handler checks the login and runs once per tab."""
        async with self:
            token = self.router.session.client_token
            if not self._resolve() or token in _USER_WATCHERS:
                return
            _USER_WATCHERS.add(token)
            actor, session_token = self._actor(), self.auth_token
            self.watching = True
        presence = Presence(token, session_token)
        services = app()
        stream = services.monitoring.stream_user(actor)
        try:
            async for batch in batches(stream):
                if await presence.gone_everywhere():
                    if presence.signed_out:  # revoked elsewhere: this tab is signed out too
                        async with self:
                            self._sign_out()
                        yield rx.redirect(routes.LOGIN)
                    return
                if not batch:
                    continue
                failed = [e for e in batch if e.get("type") == "ExecutionFinished"
                          and (e.get("data") or {}).get("status") == "failed"]
                if failed:
                    failed = await asyncio.to_thread(services.monitoring.owned_events, actor,
                                                     failed)
                changes = any(e.get("type") in ("ExecutionStarted", "ExecutionFinished",
                                                "NodeStarted", "NodeSucceeded")
                              for e in batch)
                rows = await asyncio.to_thread(active_rows, actor) if changes else None
                async with self:
                    if self.user_id != actor.id:  # logged out / another user in this tab
                        return
                    if rows is not None and rows != self.active:
                        self.active = rows
                for event in failed:
                    data = event.get("data") or {}
                    retry = " (will retry)" if data.get("error_retryable") else ""
                    yield rx.toast.error(
                        f"Execution #{event['execution_id']} failed{retry}: "
                        f"{data.get('error') or event.get('message') or 'error'}",
                        duration=8000, id=f"exec-failed-{event['execution_id']}")
        except AgenticError as exc:  # refused, e.g. all the user's live subscriptions taken
            yield live_refused(exc)
        finally:
            _USER_WATCHERS.discard(token)
            async with self:
                self.watching = False
