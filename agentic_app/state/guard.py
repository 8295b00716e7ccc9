"""The session guard: every Reflex event passes it before its handler runs.

One app-level Reflex middleware (``app.add_middleware(SessionGuard())`` in agentic_app.py),
deny by default, so it cannot be forgotten for a new handler or a new state: an event runs
without a session only when its handler is Reflex's own plumbing (hydration, on_load
dispatch, browser storage sync, frontend error reports) or is marked :func:`open_event`
(the login form). Every other event - foreground or background (``watch_user_events``,
``follow``), sent by the page or crafted by a client - needs the tab's session token (the
``agentic_token`` cookie on :class:`AppState`) to resolve to an active user; the guard puts
that user on the state, so handlers use ``self.user_id`` without looking it up again.

Lookups go through the application facade (``app.auth``) in a worker thread (never on the
event loop) and are cached per process for at most :data:`SESSION_CHECK_S`, so revoking a
session or API token ends UI access within seconds; long-running background streams re-check through
:func:`session_alive`. A refused event changes nothing: the tab is sent to the login page and
a dead token is dropped from its cookie.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import reflex as rx
from reflex.event import Event
from reflex.middleware import Middleware
from reflex.state import (
    BaseState,
    FrontendEventExceptionState,
    OnLoadInternalState,
    State,
    StateUpdate,
    UpdateVarsInternalState,
)
from reflex.utils.format import format_event_handler

from agentic_app import routes
from agentic_app.services.app import MAX_TOKEN_LENGTH, Actor
from agentic_app.state.base import AppState
from agentic_app.state.common import app

if TYPE_CHECKING:
    from reflex.app import App

log = logging.getLogger(__name__)

SESSION_CHECK_S = 2.0
"""Longest time a session lookup is reused: a revoked token loses UI access within it."""
MAX_CACHED_SESSIONS = 10_000
"""Cached lookups kept per process (expired ones are dropped first when it is full)."""
OPEN_MARKER = "_agentic_open_event"
"""Attribute :func:`open_event` sets on a handler function."""


def open_event(fn: Any) -> Any:
    """Mark an event handler as callable without a session (login and the like): only for
    handlers that read and change no user data and throttle what they do."""
    setattr(fn, OPEN_MARKER, True)
    return fn


SessionUser = Actor
"""The active user a session token resolved to: the facade's acting user."""


class SessionUnavailableError(Exception):
    """The session could not be checked (database down): neither valid nor revoked."""


def _lookup(token: str) -> SessionUser | None:
    """The user of a valid token, through the facade (blocking: run in a thread)."""
    try:
        return app().auth.actor_for_token(token)
    except Exception as exc:
        raise SessionUnavailableError(str(exc)) from exc


class SessionCache:
    """Token -> user lookups, each reused for ``ttl_s`` seconds (valid and invalid alike)."""

    def __init__(self, ttl_s: float = SESSION_CHECK_S, max_entries: int = MAX_CACHED_SESSIONS,
                 lookup: Any = _lookup) -> None:
        self.ttl_s, self.max_entries, self._lookup = ttl_s, max_entries, lookup
        self._entries: dict[str, tuple[float, SessionUser | None]] = {}

    async def user(self, token: str | None) -> SessionUser | None:
        """The user of ``token`` (None: no, unknown, revoked or expired token, or inactive
        user). SessionUnavailableError when it cannot be told. Never blocks the loop."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = time.monotonic()
        hit = self._entries.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        user = await asyncio.to_thread(self._lookup, token)
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[token] = (time.monotonic() + self.ttl_s, user)
        return user


SESSIONS = SessionCache()
"""This process's session lookups."""


async def session_alive(token: str | None) -> bool:
    """Whether ``token`` still belongs to an active user; True when that cannot be told (a
    database hiccup must not end live views), for background streams to re-check."""
    try:
        return await SESSIONS.user(token) is not None
    except SessionUnavailableError:
        return True


def _open_event_names() -> frozenset[str]:
    """Wire names of the events that need no session: Reflex's plumbing and every handler
    marked :func:`open_event`, on any state class."""
    plumbing = [State.hydrate, State.hydrate_and_load, State.set_is_hydrated,
                OnLoadInternalState.on_load_internal, OnLoadInternalState.set_is_hydrated,
                UpdateVarsInternalState.update_vars_internal,
                FrontendEventExceptionState.handle_frontend_exception]
    names = {format_event_handler(handler) for handler in plumbing}
    classes: list[type[BaseState]] = [State]
    while classes:
        cls = classes.pop()
        classes.extend(cls.get_substates())
        names.update(f"{cls.get_full_name()}.{name}"
                     for name, handler in cls.event_handlers.items()
                     if getattr(handler.fn, OPEN_MARKER, False))
    return frozenset(names)


class SessionGuard(Middleware):
    """Refuses every event without a valid session except the open ones (see the module)."""

    def __init__(self, sessions: SessionCache = SESSIONS) -> None:
        self.sessions = sessions
        self._open: frozenset[str] | None = None

    def is_open(self, event_name: str) -> bool:
        """Whether the event runs without a session (the set is built on first use, once
        every state class exists)."""
        if self._open is None:
            self._open = _open_event_names()
        return event_name in self._open

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        """Let the event through (None) with the tab's user on the state, or refuse it."""
        if self.is_open(event.name):
            return None
        tab = await state.get_state(AppState)
        try:
            user = await self.sessions.user(tab.auth_token)
        except SessionUnavailableError as exc:
            log.warning("session check failed, event %s refused: %s", event.name, exc)
            return StateUpdate(events=Event.from_event_type(
                rx.toast.error("Service unavailable, try again shortly.")))
        if user is None:
            had_session = bool(tab.auth_token)
            tab._sign_out()
            root = state._get_root_state()
            try:
                delta = await root._get_resolved_delta()
            finally:
                root._clean()
            notes = [rx.toast.info("Your session ended; sign in again.")] if had_session else []
            return StateUpdate(delta=delta,
                               events=Event.from_event_type([rx.redirect(routes.LOGIN), *notes]))
        tab._set_actor(user)
        return None
