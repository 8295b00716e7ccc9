"""A Python client that speaks Reflex's event protocol to a running backend, the way the
compiled frontend (``.web/utils/state.js``) does, so tests can attack the real interface.

The protocol (Reflex 0.10): socket.io over a WebSocket at the backend's ``/_event`` path
and namespace, with the tab's client token in the query string (``?token=``). An event is
``emit("event", {"name": <state full name>.<handler>, "payload": {<arg>: <value>},
"router_data": {"pathname": ..., "asPath": ...}})``; the backend answers with ``event``
messages ``{"delta": {<state full name>: {<var>_rx_state_: value}}, "events": [...],
"final": bool}``. ``hydrate_and_load`` (sent first by every tab) carries the browser's cookie
values (``vars``), here the session token, and answers with the full state.

Nothing here trusts the app: names are built from the state classes, the payload is whatever
the caller gives, and the client can send events a browser never would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

EVENT_PATH = "/_event"
"""socket.io path and namespace of Reflex's event endpoint (``Endpoint.EVENT``)."""
FIELD_MARKER = "_rx_state_"
"""Suffix Reflex adds to every var name in a delta."""
ROOT_STATE = "reflex___state____state"
"""Full name of Reflex's root state (``rx.State``)."""
AUTH_TOKEN_VAR = f"{ROOT_STATE}.agentic_app___state___base____app_state.auth_token{FIELD_MARKER}"
"""The session cookie var of ``AppState``, as the browser sends it on hydrate."""
QUIET_PATH = "/login"
"""A page without on_load handlers (a hydrate there runs no loader)."""


def event_name(handler: Any) -> str:
    """The wire name of a state's event handler, e.g. ``WorkflowEditState.set_param``."""
    from reflex.utils.format import format_event_handler

    return format_event_handler(handler)


class ReflexClient:
    """One browser tab without a browser: a client token, a socket, and every update the
    backend sent it, with the deltas folded into :attr:`state` (var names without the
    ``_rx_state_`` suffix)."""

    def __init__(self, backend_url: str, *, auth_token: str = "", path: str = "/") -> None:
        self.backend_url = backend_url.rstrip("/")
        self.auth_token = auth_token
        self.path = path
        self.client_token = str(uuid.uuid4())
        self.updates: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, Any]] = {}
        self._sio = socketio.AsyncClient(reconnection=False)
        self._sio.on("event", self._on_update, namespace=EVENT_PATH)
        self._changed = asyncio.Event()

    async def __aenter__(self) -> ReflexClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, *, hydrate: bool = True, timeout: float = 30) -> None:
        """Open the WebSocket and, like a tab, hydrate with the session cookie."""
        await self._sio.connect(f"{self.backend_url}?token={self.client_token}",
                                namespaces=[EVENT_PATH], socketio_path=EVENT_PATH,
                                transports=["websocket"], wait_timeout=timeout)
        if hydrate:
            await self.hydrate(timeout=timeout)

    async def close(self) -> None:
        """Disconnect."""
        await self._sio.disconnect()

    @property
    def connected(self) -> bool:
        """Whether the socket is open."""
        return self._sio.connected

    async def hydrate(self, path: str | None = None, *, timeout: float = 30) -> dict[str, Any]:
        """Send ``hydrate_and_load`` for ``path`` (default: the client's page) with the session
        cookie, as a tab does on every (re)connect: the backend answers with its full state
        (returned) and then runs the page's on_load handlers."""
        vars_ = {AUTH_TOKEN_VAR: self.auth_token} if self.auth_token else {}
        mark = await self.emit(f"{ROOT_STATE}.hydrate_and_load", {"vars": vars_}, path)
        await self.wait_for(lambda: any(is_snapshot(u) for u in self.updates[mark:]), timeout,
                            "no state snapshot after hydrate_and_load")
        return merge_deltas([next(u for u in self.updates[mark:] if is_snapshot(u))])

    async def snapshot(self, *, timeout: float = 30) -> dict[str, Any]:
        """The backend's current state of this tab, after every event sent before (they are
        processed in order): a hydrate at a page without on_load handlers. It supersedes a
        page load still running, so wait for the load first."""
        return await self.hydrate(QUIET_PATH, timeout=timeout)

    async def emit(self, name: str, payload: dict[str, Any] | None = None,
                   path: str | None = None) -> int:
        """Send one event; return the index of the first update that can answer it."""
        mark = len(self.updates)
        path = path or self.path
        await self._sio.emit("event", {"name": name, "payload": payload or {},
                                       "router_data": {"pathname": path, "asPath": path}},
                             namespace=EVENT_PATH)
        return mark

    async def wait_for(self, predicate: Callable[[], Any], timeout: float,
                       what: str = "condition") -> None:
        """Wait until ``predicate()`` holds, re-checking on every update; TimeoutError else."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what} within {timeout} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    def events_since(self, mark: int) -> list[dict[str, Any]]:
        """Frontend events (redirects, toasts, chained calls) the backend sent since ``mark``."""
        return [e for u in self.updates[mark:] for e in (u.get("events") or [])]

    def redirects_since(self, mark: int) -> list[str]:
        """Paths of the redirects the backend sent since ``mark``."""
        return [e["payload"].get("path", "") for e in self.events_since(mark)
                if e.get("name") == "_redirect"]

    def var(self, state: Any, name: str, default: Any = None) -> Any:
        """A var of a state class as last sent by the backend."""
        return self.state.get(state.get_full_name(), {}).get(name, default)

    async def _on_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        for state, values in (update.get("delta") or {}).items():
            self.state.setdefault(state, {}).update(
                {k.removesuffix(FIELD_MARKER): v for k, v in values.items()})
        app_state, _, var = AUTH_TOKEN_VAR.rpartition(".")
        if var in (update.get("delta") or {}).get(app_state, {}):  # the browser's cookie
            self.auth_token = update["delta"][app_state][var]
        self._changed.set()


def is_snapshot(update: dict[str, Any]) -> bool:
    """Whether ``update`` is the full state a hydrate answers (every substate, with the root's
    ``is_hydrated`` flag), not the delta of one handler."""
    delta = update.get("delta") or {}
    return f"is_hydrated{FIELD_MARKER}" in delta.get(ROOT_STATE, {}) and len(delta) > 3


def merge_deltas(updates: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The deltas of ``updates`` folded into one ``{state: {var: value}}`` (no suffixes)."""
    out: dict[str, dict[str, Any]] = {}
    for update in updates:
        for state, values in (update.get("delta") or {}).items():
            out.setdefault(state, {}).update(
                {k.removesuffix(FIELD_MARKER): v for k, v in values.items()})
    return out
