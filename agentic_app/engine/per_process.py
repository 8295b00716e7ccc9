"""One lazily built instance per process, for objects that own a thread (threads do not
survive a fork, so a forked child builds its own on first use)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    """``get()`` returns this process's ``factory()`` result, built on first use."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid: int | None = None

    def get(self) -> T:
        """The instance of the calling process (built now if there is none yet)."""
        value, pid = self._value, self._pid
        if value is not None and pid == os.getpid():
            return value
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value, self._pid = self._factory(), os.getpid()
            return self._value

    def discard(self, value: T) -> None:
        """Forget ``value`` if it is still the instance (it broke): the next ``get()``
        builds a new one."""
        with self._lock:
            if self._value is value:
                self._value, self._pid = None, None
