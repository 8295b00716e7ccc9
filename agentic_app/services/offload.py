"""CPU-bound work off the web process: a small pool of worker processes per process.

A thread keeps such work off the event loop but not off the GIL the loop needs, so a large
workflow's validation in a thread still slows every other request down; a worker process
does not. Functions sent here must be importable module-level functions whose arguments and
results pickle (plain data), and their modules must not import Reflex (the workers are
spawned: they import only what the function needs).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from agentic_app.engine.per_process import PerProcess

T = TypeVar("T")

POOL_PROCESSES = 1
"""Worker processes per web process (spawned on first use)."""


def _new_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(POOL_PROCESSES, mp_context=multiprocessing.get_context("spawn"))


_POOL: PerProcess[ProcessPoolExecutor] = PerProcess(_new_pool)


async def run_cpu(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker process, awaited without blocking the loop. A pool whose
    worker died (killed, out of memory) is replaced and the call tried once more."""
    loop = asyncio.get_running_loop()
    pool = _POOL.get()
    try:
        return await loop.run_in_executor(pool, fn, *args)
    except BrokenProcessPool:
        _POOL.discard(pool)
        pool.shutdown(wait=False)
        return await loop.run_in_executor(_POOL.get(), fn, *args)


def call_cpu(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker process, waited for in the calling thread (for synchronous
    facade methods, which their callers already run off the event loop); a broken pool is
    replaced and the call tried once more, as :func:`run_cpu`."""
    pool = _POOL.get()
    try:
        return pool.submit(fn, *args).result()
    except BrokenProcessPool:
        _POOL.discard(pool)
        pool.shutdown(wait=False)
        return _POOL.get().submit(fn, *args).result()
