"""No event handler of the app's states reads the database, Redis or the market on the
backend's event loop: every synchronous handler that reaches the facade (``app()``), directly
or through a helper method of its state, is wrapped in ``@off_loop`` (so it runs as a
coroutine in a worker thread). tests/security/test_loaders_off_loop.py checks the effect on
the running app."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
from types import FunctionType

import reflex as rx

import agentic_app.state as state_package
from agentic_app.state.base import AppState
from agentic_app.state.offloop import off_loop


def _states() -> list[type]:
    for module in pkgutil.iter_modules(state_package.__path__):  # every state is defined
        importlib.import_module(f"{state_package.__name__}.{module.name}")
    out, todo = [], [AppState]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.get_substates())
    return out


def _reaches_facade(cls: type, fn: FunctionType, seen: set[str]) -> bool:
    """Whether ``fn`` names ``app`` (the facade accessor) or calls a method of ``cls`` or a
    function of the app's modules that does."""
    names = set(fn.__code__.co_names)
    if "app" in names:
        return True
    for name in names - seen:
        member = inspect.getattr_static(cls, name, None)
        if not isinstance(member, FunctionType):
            member = fn.__globals__.get(name)
        if isinstance(member, FunctionType) and member.__module__.startswith("agentic_app."):
            seen.add(name)
            if _reaches_facade(cls, member, seen):
                return True
    return False


def test_sync_handlers_never_reach_the_facade() -> None:
    """Every handler that reaches the facade is a coroutine or async generator function."""
    offenders = []
    checked = 0
    for cls in _states():
        for name, handler in cls.event_handlers.items():
            fn = handler.fn
            if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                continue
            checked += 1
            if _reaches_facade(cls, fn, set()):
                offenders.append(f"{cls.__name__}.{name}")
    assert checked > 10  # the plain setters and dialogs were looked at
    assert offenders == []


def test_off_loop_runs_functions_and_generators_in_a_thread() -> None:
    """A wrapped function returns its value and a wrapped generator yields its items, each
    computed in a thread other than the loop's."""
    import threading

    class Holder:
        def plain(self, x: int) -> tuple[int, bool]:
            return x * 2, threading.current_thread() is threading.main_thread()

        def many(self, n: int):
            for i in range(n):
                yield i, threading.current_thread() is threading.main_thread()

    plain, many = off_loop(Holder.plain), off_loop(Holder.many)
    assert inspect.signature(plain) == inspect.signature(Holder.plain)

    async def run() -> tuple:
        return await plain(Holder(), 21), [item async for item in many(Holder(), 3)]

    value, items = asyncio.run(run())
    assert value == (42, False)
    assert items == [(0, False), (1, False), (2, False)]
    assert rx  # the states above are Reflex states
