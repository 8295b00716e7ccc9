"""The Reflex background handlers that open event streams guard themselves: a browser can
send their events directly, bypassing the handlers that normally start them."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

from agentic_app.services.app import Actor
from agentic_app.state import live, monitor
from agentic_app.state.live import LiveState
from agentic_app.state.monitor import MonitorState


class FakeState(SimpleNamespace):
    """Stands in for a state instance inside a background task (``async with self``)."""

    async def __aenter__(self) -> FakeState:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _blocking_stream(opened: list, release: asyncio.Event):
    """A stream factory that records each opening and yields nothing until released."""

    def factory(*args: Any, **kwargs: Any):
        opened.append(args)

        async def stream():
            await release.wait()
            if False:  # pragma: no cover - an async generator that yields nothing
                yield None

        return stream()

    return factory


def _facade(**monitoring: Any) -> Any:
    """Stands in for the facade: ``app().monitoring`` with the given stream methods."""
    services = SimpleNamespace(monitoring=SimpleNamespace(**monitoring))
    return lambda: services


def test_user_watcher_runs_once_per_tab_and_only_logged_in(monkeypatch) -> None:
    """A second watch_user_events for the same tab, or one without a login, opens nothing."""
    opened: list = []

    async def scenario() -> None:
        release = asyncio.Event()
        monkeypatch.setattr(live, "app", _facade(stream_user=_blocking_stream(opened, release)))
        tab = dict(router=SimpleNamespace(session=SimpleNamespace(client_token="tab-1")),
                   user_id=7, auth_token="session-token", watching=False,
                   _actor=lambda: Actor(id=7))
        first = FakeState(**tab, _resolve=lambda: True)
        task = asyncio.create_task(_collect(LiveState.watch_user_events.fn(first)))
        await asyncio.sleep(0.05)
        assert first.watching and len(opened) == 1
        second = FakeState(**tab, _resolve=lambda: True)
        assert await _collect(LiveState.watch_user_events.fn(second)) == []
        anonymous = FakeState(**{**tab, "router": SimpleNamespace(
            session=SimpleNamespace(client_token="tab-2"))}, _resolve=lambda: False)
        assert await _collect(LiveState.watch_user_events.fn(anonymous)) == []
        assert len(opened) == 1 and not second.watching and not anonymous.watching
        release.set()
        await task
        assert "tab-1" not in live._USER_WATCHERS  # a later start may run again

    asyncio.run(scenario())


async def _collect(handler_call: Any) -> list:
    """Run a handler call (coroutine or async generator); what it yielded."""
    if inspect.iscoroutine(handler_call):
        await handler_call
        return []
    return [item async for item in handler_call]


def test_follow_streams_a_view_once(monkeypatch) -> None:
    """follow(gen) for the current view opens one stream; a repeated follow(gen) or one for
    another view opens none; after the stream ends the view may be followed again."""
    opened: list = []

    async def scenario() -> None:
        release = asyncio.Event()
        monkeypatch.setattr(monitor, "app",
                            _facade(stream_execution=_blocking_stream(opened, release)))
        monkeypatch.setattr(monitor, "_final_metrics", lambda *a: {})
        state = FakeState(_gen=3, _follow_gen=-1, execution={"id": "11"}, _last_seq=0,
                          router=SimpleNamespace(session=SimpleNamespace(client_token="t")),
                          user_id=7, auth_token="session-token", live=False,
                          _actor=lambda: Actor(id=7))
        task = asyncio.create_task(_collect(MonitorState.follow.fn(state, 3)))
        await asyncio.sleep(0.05)
        assert state.live and len(opened) == 1
        assert await _collect(MonitorState.follow.fn(state, 3)) == []
        assert await _collect(MonitorState.follow.fn(state, 2)) == []
        assert len(opened) == 1
        release.set()
        await task
        assert state._follow_gen == -1 and not state.live
        release2 = asyncio.Event()
        release2.set()
        monkeypatch.setattr(monitor, "app",
                            _facade(stream_execution=_blocking_stream(opened, release2)))
        await _collect(MonitorState.follow.fn(state, 3))
        assert len(opened) == 2

    asyncio.run(scenario())
