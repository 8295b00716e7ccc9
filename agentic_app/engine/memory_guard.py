"""Per-execution memory limit, enforced where the execution runs.

Two complementary tools:

* :class:`MemoryGuard` — an RSS watchdog thread (psutil). It samples the process RSS every
  ``interval_s``, records the peak above the baseline taken at start (reported as the
  execution's ``memory_used_mb``) and calls ``on_exceeded(used_mb)`` once when the limit is
  passed; the executor then stops the execution with :class:`MemoryLimitError`. RSS is
  process-wide, so with several executions in one process each sees the others' growth.
* :func:`apply_address_space_limit` — a hard ``RLIMIT_AS`` cap for a process dedicated to one
  execution (the RQ work-horse is a fork per job): an allocation past it raises
  ``MemoryError`` at once, which the executor maps to :class:`MemoryLimitError`, and the
  parent worker process is unharmed. Thread stacks and malloc arenas reserve address space
  too: the cap is the current virtual size plus the limit plus a headroom, and malloc is
  limited to one arena.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Self

import psutil

MB = 1024 * 1024
"""Bytes in a megabyte (MiB)."""

DEFAULT_INTERVAL_S = 0.025
"""How often the watchdog samples RSS."""


class MemoryGuard:
    """RSS watchdog for one execution; use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        limit_mb: float | None,
        on_exceeded: Callable[[float], None] | None = None,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
    ):
        self.limit_mb = limit_mb
        self.on_exceeded = on_exceeded
        self.interval_s = interval_s
        self.exceeded_mb: float | None = None
        self._process = psutil.Process()
        self._baseline = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def peak_used_mb(self) -> float:
        """Peak RSS above the baseline so far, in MB (never negative)."""
        return max(0, self._peak - self._baseline) / MB

    def start(self) -> Self:
        """Take the baseline and start sampling in a daemon thread."""
        self._baseline = self._peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop sampling (one last sample is taken) and return :attr:`peak_used_mb`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.peak_used_mb

    def sample(self) -> float:
        """Measure RSS now; update the peak; fire ``on_exceeded`` once past the limit."""
        rss = self._process.memory_info().rss
        self._peak = max(self._peak, rss)
        used = (rss - self._baseline) / MB
        if self.limit_mb and used > self.limit_mb and self.exceeded_mb is None:
            self.exceeded_mb = used
            if self.on_exceeded is not None:
                self.on_exceeded(used)
        return used

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
        self.sample()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


DEFAULT_HEADROOM_MB = 96
"""Address space allowed on top of the limit for thread stacks and late-loaded libraries."""

M_ARENA_MAX = -8
"""glibc ``mallopt`` parameter: maximum number of malloc arenas."""


def apply_address_space_limit(
    limit_mb: float, *, headroom_mb: float = DEFAULT_HEADROOM_MB, single_arena: bool = True
) -> int:
    """Cap this process's address space at its current virtual size + limit + headroom.

    For a process that runs a single execution (a forked work-horse): afterwards an
    allocation past the cap raises ``MemoryError``. glibc reserves 64 MB of address space per
    thread arena, which would eat the budget of a threaded execution, so by default malloc is
    told to use one arena (best effort, glibc only). Never raises the hard limit. Returns the
    soft limit set, in bytes. POSIX only.
    """
    import resource

    if single_arena:
        limit_malloc_arenas(1)
    soft_old, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = psutil.Process().memory_info().vms + int((limit_mb + headroom_mb) * MB)
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    if soft_old != resource.RLIM_INFINITY:
        new = min(new, soft_old)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    return new


def limit_malloc_arenas(count: int) -> bool:
    """Ask glibc malloc to use at most ``count`` arenas; False where that is not possible."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False
