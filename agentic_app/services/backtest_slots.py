"""At most a few backtests of one user at a time: a replay is CPU work on the web process, so
one user firing many at once would slow every other request down. The running count is kept
in Redis (shared by every backend process and replica; a key expires on its own should a
process die mid-backtest), or in this process when no Redis is known."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentic_app.domain.errors import LimitExceededError

MAX_BACKTESTS_PER_USER = 2
"""Backtests one user may run at the same time (a third gets 429 naming the limit)."""
SLOT_TTL_S = 120
"""Safety expiry of a user's running count in Redis (a backtest takes a few seconds at most)."""
LIMIT_NAME = "backtests_per_user"

_local: Counter[int] = Counter()
_lock = threading.Lock()


def _key(user_id: int) -> str:
    return f"agentic:backtests:running:{user_id}"


@contextmanager
def backtest_slot(redis: Any | None, user_id: int,
                  limit: int = MAX_BACKTESTS_PER_USER) -> Iterator[None]:
    """Hold one of the user's ``limit`` backtest slots while the block runs;
    ``LimitExceededError`` (429, ``backtests_per_user``) when all are taken."""
    if redis is None:
        with _lock:
            if _local[user_id] >= limit:
                raise _refused(limit)
            _local[user_id] += 1
        try:
            yield
        finally:
            with _lock:
                _local[user_id] -= 1
        return
    key = _key(user_id)
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, SLOT_TTL_S)
    running = int(pipe.execute()[0])
    if running > limit:
        redis.decr(key)
        raise _refused(limit)
    try:
        yield
    finally:
        redis.decr(key)


def _refused(limit: int) -> LimitExceededError:
    return LimitExceededError(f"at most {limit} backtests may run at once per user; wait for "
                              "one to finish", limit=LIMIT_NAME)
