"""The session guard: which events run without a session, and the cached, off-loop lookup that
lets a revocation take effect within SESSION_CHECK_S (the WebSocket attacks themselves are in
tests/security/test_reflex_events.py)."""

from __future__ import annotations

import asyncio
import threading

from reflex.state import State
from reflex.utils.format import format_event_handler

from agentic_app.state import guard, monitor, queue, scheduler, tokens, workflows  # noqa: F401
from agentic_app.state.base import AppState
from agentic_app.state.guard import (
    MAX_TOKEN_LENGTH,
    SessionCache,
    SessionGuard,
    SessionUnavailableError,
    SessionUser,
)
from agentic_app.state.live import Presence
from agentic_app.state.login import LoginState

ALICE = SessionUser(id=1, username="alice")


def _all_states() -> list[type]:
    out, todo = [], [State]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.get_substates())
    return out


def test_only_the_login_form_and_reflex_plumbing_run_without_a_session() -> None:
    """Of every handler on every app state, only LoginState.submit is open; Reflex's hydrate
    and on_load dispatch are open, and anything unknown to the guard is closed."""
    gate = SessionGuard()
    app_handlers = {f"{cls.get_full_name()}.{name}" for cls in _all_states()
                    if issubclass(cls, AppState) for name in cls.event_handlers}
    assert len(app_handlers) > 40
    assert {name for name in app_handlers if gate.is_open(name)} == {
        format_event_handler(LoginState.submit)}
    assert gate.is_open(format_event_handler(State.hydrate_and_load))
    assert not gate.is_open(format_event_handler(State.setvar))
    assert not gate.is_open(f"{AppState.get_full_name()}.made_up")


def test_lookup_reused_within_the_period_then_done_again() -> None:
    """A token is looked up once per period: a revocation shows after at most ttl_s."""
    answers = [ALICE, None]
    calls: list[str] = []

    def lookup(token: str) -> SessionUser | None:
        calls.append(token)
        return answers[len(calls) - 1]

    async def scenario() -> None:
        cache = SessionCache(ttl_s=0.2, lookup=lookup)
        assert await cache.user("tok") == ALICE
        assert await cache.user("tok") == ALICE
        assert calls == ["tok"]
        await asyncio.sleep(0.25)
        assert await cache.user("tok") is None  # revoked meanwhile
        assert calls == ["tok", "tok"]

    asyncio.run(scenario())


def test_lookup_runs_off_the_event_loop() -> None:
    """The database lookup runs in a worker thread, never on the loop's thread."""
    threads: list[int] = []

    def lookup(token: str) -> SessionUser | None:
        threads.append(threading.get_ident())
        return ALICE

    async def scenario() -> int:
        await SessionCache(lookup=lookup).user("tok")
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert threads and threads[0] != loop_thread


def test_missing_or_oversized_token_is_refused_without_lookup() -> None:
    """No token, or one longer than any we issue, is no session and costs no lookup."""
    calls: list[str] = []

    async def scenario() -> None:
        cache = SessionCache(lookup=lambda t: calls.append(t) or ALICE)
        assert await cache.user("") is None
        assert await cache.user(None) is None
        assert await cache.user("x" * (MAX_TOKEN_LENGTH + 1)) is None

    asyncio.run(scenario())
    assert calls == []


def test_cache_stays_bounded() -> None:
    """Many distinct tokens (a client making them up) do not grow the cache without end."""
    async def scenario() -> SessionCache:
        cache = SessionCache(max_entries=3, lookup=lambda t: None)
        for i in range(10):
            await cache.user(f"tok-{i}")
        return cache

    assert len(asyncio.run(scenario())._entries) <= 3


def test_background_streams_keep_running_when_the_session_cannot_be_checked(monkeypatch) -> None:
    """A database hiccup is not a revocation: session_alive stays True; a real revocation
    makes Presence report the tab signed out."""
    def down(token: str) -> SessionUser | None:
        raise SessionUnavailableError("database down")

    monkeypatch.setattr(guard, "SESSIONS", SessionCache(lookup=down))
    assert asyncio.run(guard.session_alive("tok")) is True

    monkeypatch.setattr(guard, "SESSIONS", SessionCache(lookup=lambda t: None))
    presence = Presence("client-token", "revoked-token")
    assert asyncio.run(presence.gone_everywhere()) is True
    assert presence.signed_out
