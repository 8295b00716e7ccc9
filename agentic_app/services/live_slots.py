"""Live subscription slots: how many live event streams each user may hold open at once,
across every backend process (``LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER``). Every live
stream of the facade (REST WebSocket, Reflex live views) takes one while it runs and gives
it back when it closes.

With Redis the slots of a user are a sorted set ``agentic:live:<user>``: one member per open
stream, scored with the time its lease runs out (Redis's clock). Taking a slot drops the
expired leases and adds one only under the cap, in one script; a running stream renews its
lease every third of ``LIMITS__LIVE_SUBSCRIPTION_LEASE_SECONDS``. A backend that dies
(kill -9) stops renewing, so its slots free themselves within one lease. Without Redis (or
while it fails) the cap is counted in this process only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator

import redis as redis_lib

from agentic_app.domain.errors import LimitExceededError

log = logging.getLogger(__name__)

LIMIT_NAME = "max_live_subscriptions_per_user"
"""The ``limit`` a refused subscription names."""
KEY_PREFIX = "agentic:live:"
"""Redis key prefix of a user's lease set."""
REDIS_ERRORS = (redis_lib.RedisError, OSError)

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
_TAKE_LUA = _NOW_MS + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and
   redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
"""Take (or renew) the lease ARGV[1] unless the user holds ARGV[2] live ones already."""
_COUNT_LUA = _NOW_MS + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


def _key(user_id: int) -> str:
    return f"{KEY_PREFIX}{user_id}"


class LiveSlots:
    """Per-user counts of open live streams, capped at ``cap``: leases in Redis when
    ``redis()`` gives a client, else counted in this process (thread-safe)."""

    def __init__(self, cap: int, *, lease_s: float = 30.0,
                 redis: Callable[[], redis_lib.Redis | None] = lambda: None) -> None:
        self.cap, self.lease_s = cap, lease_s
        self._redis = redis
        self._open: Counter[int] = Counter()
        self._lock = threading.Lock()

    def _client(self) -> redis_lib.Redis | None:
        try:
            return self._redis()
        except Exception:  # no Redis known or it cannot be resolved: count locally
            return None

    def open_count(self, user_id: int) -> int:
        """Live streams the user holds now (blocking)."""
        client = self._client()
        if client is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                return int(client.eval(_COUNT_LUA, 1, _key(user_id)))
        with self._lock:
            return self._open[user_id]

    def _refused(self) -> LimitExceededError:
        return LimitExceededError(
            f"you have {self.cap} live subscriptions open, the limit (setting "
            f"LIMITS__MAX_LIVE_SUBSCRIPTIONS_PER_USER); close one first", limit=LIMIT_NAME)

    def _take(self, client: redis_lib.Redis, user_id: int, lease: str) -> bool:
        return bool(client.eval(_TAKE_LUA, 1, _key(user_id), lease, self.cap,
                                int(self.lease_s * 1000)))

    @contextlib.contextmanager
    def _hold_local(self, user_id: int) -> Iterator[None]:
        with self._lock:
            if self._open[user_id] >= self.cap:
                raise self._refused()
            self._open[user_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[user_id] -= 1
                if self._open[user_id] <= 0:
                    del self._open[user_id]

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        """Hold one of the user's slots for the ``async with`` block (its Redis lease renewed
        meanwhile); LimitExceededError naming the limit when all ``cap`` are taken."""
        client = await asyncio.to_thread(self._client)
        lease = _Lease(self, client, user_id) if client is not None else None
        if lease is not None:
            try:
                taken = await asyncio.to_thread(lease.renew)
            except REDIS_ERRORS:
                log.warning("live slot of user %s counted locally (Redis error)", user_id,
                            exc_info=True)
                lease = None
            else:
                if not taken:
                    raise self._refused()
        if lease is None:
            with self._hold_local(user_id):
                yield
            return
        renewal = asyncio.create_task(self._renew(lease))
        try:
            yield
        finally:
            renewal.cancel()
            # the release runs to its end in a worker thread even when this task is being
            # cancelled (a closed WebSocket): the slot never waits for its lease to run out
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(None,
                                                                            lease.release))

    async def _renew(self, lease: _Lease) -> None:
        """Renew the lease every third of its length while the stream runs."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await asyncio.to_thread(lease.renew):
                    log.warning("live slot of user %s lost its lease and the user holds "
                                "all others", lease.user_id)
            except REDIS_ERRORS:
                log.warning("live slot lease of user %s not renewed (Redis error)",
                            lease.user_id)


class _Lease:
    """One stream's lease in Redis. Renewal and release run in worker threads and take
    turns (a renewal in flight never re-adds a lease released meanwhile)."""

    def __init__(self, slots: LiveSlots, client: redis_lib.Redis, user_id: int) -> None:
        self.slots, self.client, self.user_id = slots, client, user_id
        self.id = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._released = False

    def renew(self) -> bool:
        """Take or renew the lease (blocking); False when the user holds ``cap`` others."""
        with self._lock:
            return self._released or self.slots._take(self.client, self.user_id, self.id)

    def release(self) -> None:
        """Give the slot back (blocking); a Redis error leaves it to run out."""
        with self._lock:
            self._released = True
            with contextlib.suppress(*REDIS_ERRORS):
                self.client.zrem(_key(self.user_id), self.id)
