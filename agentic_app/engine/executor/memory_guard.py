"""Per-execution memory limit, enforced where the execution runs.

Two complementary tools:

* :class:`MemoryGuard` — an RSS watchdog (psutil; one shared sampler thread per process
  serves every guard). It samples the process RSS every
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

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Self

import psutil

from agentic_app.engine.per_process import PerProcess

logger = logging.getLogger(__name__)

MB = 1024 * 1024
"""Bytes in a megabyte (MiB)."""

DEFAULT_INTERVAL_S = 0.025
"""How often the watchdog samples RSS."""


class _Sampler:
    """The process's one RSS sampling thread, shared by every running :class:`MemoryGuard`
    (no thread start per execution). It samples at the smallest interval of the guards
    registered and sleeps while none is. Recreated in a forked child (threads do not fork)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.statm = _open_statm()
        self.guards: set[MemoryGuard] = set()
        self.cond = threading.Condition()
        self.idle = True
        self.thread = threading.Thread(target=self._run, name="memory-guard", daemon=True)
        self.thread.start()

    def rss(self) -> int:
        """Resident set size of this process now, in bytes (Linux: one ``pread`` of the
        kept-open ``/proc/<pid>/statm``, ~10x cheaper than psutil's open-read-close)."""
        if self.statm is not None:
            try:
                return int(os.pread(self.statm, 128, 0).split()[1]) * PAGE_SIZE
            except (OSError, IndexError, ValueError):
                self.statm = None
        return self.process.memory_info().rss

    def add(self, guard: MemoryGuard) -> None:
        """Start sampling for ``guard`` (wakes the thread only if it sleeps with no guard)."""
        with self.cond:
            self.guards.add(guard)
            if self.idle:
                self.cond.notify()

    def discard(self, guard: MemoryGuard) -> None:
        """Stop sampling for ``guard``."""
        with self.cond:
            self.guards.discard(guard)

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.guards:
                    self.idle = True
                    self.cond.wait()
                self.idle = False
                interval = min(g.interval_s for g in self.guards)
                self.cond.wait(interval)
                guards = list(self.guards)
            if not guards:
                continue
            try:
                rss = self.rss()
            except psutil.Error:
                continue
            for guard in guards:
                try:
                    guard.observe(rss)
                except Exception:  # one broken callback must not stop the others
                    logger.exception("memory guard callback failed")


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
"""Bytes per memory page (``/proc/<pid>/statm`` counts pages)."""


def _open_statm() -> int | None:
    """A descriptor of this process's ``/proc/<pid>/statm`` (None where there is none);
    opened by pid, not ``self``, and per process (the sampler is recreated after a fork)."""
    try:
        return os.open(f"/proc/{os.getpid()}/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


_shared_sampler = PerProcess(_Sampler).get
"""The process's sampler (see :class:`_Sampler`)."""


class MemoryGuard:
    """RSS watchdog for one execution; use as a context manager or ``start()``/``stop()``.

    Sampling is done by one shared thread per process (see :class:`_Sampler`); each guard
    keeps its own baseline, peak, limit and ``on_exceeded`` (called once, from that thread).
    """

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
        self._baseline = 0
        self._peak = 0
        self._lock = threading.Lock()
        self._sampler: _Sampler | None = None

    @property
    def peak_used_mb(self) -> float:
        """Peak RSS above the baseline so far, in MB (never negative)."""
        return max(0, self._peak - self._baseline) / MB

    def start(self) -> Self:
        """Take the baseline and start being sampled by the process's sampler thread."""
        self._sampler = _shared_sampler()
        self._baseline = self._peak = self._sampler.rss()
        self._sampler.add(self)
        return self

    def stop(self) -> float:
        """Stop sampling (one last sample is taken) and return :attr:`peak_used_mb`."""
        if self._sampler is not None:
            self._sampler.discard(self)
            self.sample()
            self._sampler = None
        return self.peak_used_mb

    def sample(self) -> float:
        """Measure RSS now; update the peak; fire ``on_exceeded`` once past the limit."""
        return self.observe((self._sampler or _shared_sampler()).rss())

    def observe(self, rss: int) -> float:
        """Take an RSS measurement (bytes): update the peak; fire ``on_exceeded`` once past
        the limit. Returns the MB used above the baseline."""
        with self._lock:
            self._peak = max(self._peak, rss)
            used = (rss - self._baseline) / MB
            fire = bool(self.limit_mb and used > self.limit_mb and self.exceeded_mb is None)
            if fire:
                self.exceeded_mb = used
        if fire and self.on_exceeded is not None:
            self.on_exceeded(used)
        return used

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
    libc = _libc()
    try:
        return bool(libc is not None and libc.mallopt(M_ARENA_MAX, count))
    except AttributeError:
        return False


@functools.cache
def _libc() -> Any:
    """The C library, looked up once per process (``find_library`` runs ``ldconfig``, which
    cost each forked work-horse ~4 ms; a worker loads it before forking)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def preload() -> None:
    """Look up what :func:`apply_address_space_limit` needs, in a parent before it forks."""
    _libc()
