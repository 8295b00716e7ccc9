"""Live subscription slots: how many live event streams each user may hold open in this
backend process (``LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER``). Every live stream of the
facade (REST WebSocket, Reflex live views) takes one while it runs and gives it back when it
closes."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from agentic_app.domain.errors import LimitExceededError

LIMIT_NAME = "max_live_subscriptions_per_user"
"""The ``limit`` a refused subscription names."""


class LiveSlots:
    """Per-user counts of open live streams, capped at ``cap`` (thread-safe)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[int] = Counter()
        self._lock = threading.Lock()

    def open_count(self, user_id: int) -> int:
        """Live streams the user holds now."""
        with self._lock:
            return self._open[user_id]

    @contextlib.contextmanager
    def hold(self, user_id: int) -> Iterator[None]:
        """Hold one of the user's slots for the ``with`` block; LimitExceededError naming
        the limit when all ``cap`` are taken."""
        with self._lock:
            if self._open[user_id] >= self.cap:
                raise LimitExceededError(
                    f"you have {self.cap} live subscriptions open, the limit (setting "
                    f"LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER); close one first",
                    limit=LIMIT_NAME)
            self._open[user_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[user_id] -= 1
                if self._open[user_id] <= 0:
                    del self._open[user_id]
