"""No event handler of the app's states reads the database, Redis or the market on the
backend's event loop: every synchronous handler that reaches the facade (``app()``), directly
or through a helper method of its state, is wrapped in ``@off_loop`` (so it runs as a
coroutine in a worker thread). tests/security/test_loaders_off_loop.py checks the effect on
the running app."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import pkgutil
import textwrap
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


def _rooted_in_facade(node: ast.expr) -> bool:
    """Whether ``node`` is ``app()`` or an attribute chain on it (``app().queue.cancel``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "app")


def _facade_services() -> dict[str, type]:
    """The facade's services by attribute (``self.queue = QueueService(...)`` in its init)."""
    import agentic_app.services.app as facade_module

    tree = ast.parse(textwrap.dedent(inspect.getsource(facade_module.AppServices.__init__)))
    out = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(target := node.targets[0], ast.Attribute)
                and isinstance(target.value, ast.Name) and target.value.id == "self"
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)):
            cls = getattr(facade_module, node.value.func.id, None)
            if isinstance(cls, type):
                out[target.attr] = cls
    return out


def _is_async_facade_method(func: ast.expr) -> bool:
    """Whether ``app().<service>.<method>`` is a coroutine or async generator function (the
    service does its own off-loop work; awaiting or iterating it does not block)."""
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)):
        return False
    service = _facade_services().get(func.value.attr)
    method = inspect.getattr_static(service, func.attr, None) if service else None
    return inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)


def _calls(fn: FunctionType) -> list[ast.Call]:
    """The calls in ``fn``'s own body (nested functions and lambdas are not its body: they run
    where they are passed, e.g. to ``asyncio.to_thread``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    body = tree.body[0]
    out, todo = [], list(ast.iter_child_nodes(body))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _on_loop_facade_calls(cls: type, fn: FunctionType, seen: set[str]) -> list[str]:
    """Where the async ``fn`` calls the facade on the loop: ``app().x.y(...)`` called directly
    (not handed to ``asyncio.to_thread`` / ``run_cpu``), or a synchronous method of its state
    that reaches the facade called directly; async helpers of the state are followed."""
    found = []
    for call in _calls(fn):
        func = call.func
        if _rooted_in_facade(func) and not _is_async_facade_method(func):
            found.append(f"{fn.__name__}:{call.lineno}")
            continue
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "self" and func.attr not in seen):
            member = inspect.getattr_static(cls, func.attr, None)
            if not isinstance(member, FunctionType):
                continue
            seen.add(func.attr)
            if inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member):
                if not hasattr(member, "__wrapped__"):
                    found += _on_loop_facade_calls(cls, member, seen)
            elif _reaches_facade(cls, member, set()):
                found.append(f"{fn.__name__}:{call.lineno} self.{func.attr}()")
    return found


def test_async_handlers_never_call_the_facade_on_the_loop() -> None:
    """Every native async handler (not an ``@off_loop`` wrapper, whose body runs in a thread)
    hands facade work to a thread or process instead of calling it on the event loop."""
    offenders = []
    checked = 0
    for cls in _states():
        for name, handler in cls.event_handlers.items():
            fn = handler.fn
            if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
                continue
            if hasattr(fn, "__wrapped__"):  # @off_loop: the body runs in a worker thread
                continue
            checked += 1
            offenders += [f"{cls.__name__}.{name} -> {where}"
                          for where in _on_loop_facade_calls(cls, fn, set())]
    assert checked > 10  # the async handlers were looked at
    assert offenders == []


def test_the_async_scan_catches_an_on_loop_call() -> None:
    """The scan flags ``app().x.y()`` in an async body and a sync facade helper called
    directly, and accepts both handed to ``asyncio.to_thread``."""

    class Probe:
        def _load(self):
            return app().queue.list(self)

        async def bad(self):
            return app().queue.cancel(1)

        async def bad_helper(self):
            self._load()

        async def good(self):
            await app().editor.view_of_text("x")  # an async facade method
            await asyncio.to_thread(app().queue.cancel, 1)
            await asyncio.to_thread(self._load)

    assert _on_loop_facade_calls(Probe, Probe.bad, set())
    assert _on_loop_facade_calls(Probe, Probe.bad_helper, set())
    assert _on_loop_facade_calls(Probe, Probe.good, set()) == []


def app():  # the facade accessor's name, for the probe above (never called)
    raise AssertionError


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
