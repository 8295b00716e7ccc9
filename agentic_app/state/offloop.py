"""Run a synchronous Reflex event handler off the event loop.

A plain ``def`` handler runs on the backend's event loop: while it waits for the database
or Redis, every other tab, the REST API and the webhooks wait too. ``@off_loop`` (under
``@rx.event``) turns it into a coroutine (or, for a handler that yields, an async generator)
that runs the body in a worker thread. The handler keeps exclusive use of its state meanwhile:
Reflex processes one event of a tab at a time and holds the tab's state until the handler
returns, so the body may read and set vars as before."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

_DONE = object()


def off_loop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` (a synchronous function or generator of a state) run in a worker thread;
    its signature (the event's arguments) is kept."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
            items = handler(self, *args, **kwargs)
            while (item := await asyncio.to_thread(next, items, _DONE)) is not _DONE:
                yield item

        return stream

    @functools.wraps(handler)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(handler, self, *args, **kwargs)

    return run
