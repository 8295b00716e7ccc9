"""One shared asyncio pub/sub connection for every live stream of an event loop.

A web process follows many executions at once (each open monitor page, each WebSocket
client, each tab's user-wide watcher). Without a hub each stream opens its own Redis
connection; with one, every stream of the loop subscribes through the same connection and
the hub's reader task hands each message to the subscriptions of its channel. The streams
keep their own guarantees (:mod:`agentic_app.engine.events.stream` fills any gap from the
database), so the hub only has to be honest about losses: when its connection breaks, every
subscription is told (``ConnectionError`` on its next read) and the next subscribe connects
again.

The application facade owns one hub per event loop and Redis URL
(``AppServices.live_hub``); the hub is bound to the loop it was created in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis

from agentic_app.engine.events.bus import async_client

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 1.0
"""How long the reader waits for a message before asking again (keeps it cancellable)."""
_REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
_LOST = object()
"""Queued to a subscription when the hub's connection broke."""


class HubSubscription:
    """One stream's subscription to one channel, read through its hub."""

    def __init__(self, hub: PubSubHub, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(self, message: Any) -> None:
        """Queue a pub/sub message (or the loss marker) for :meth:`get`."""
        self._queue.put_nowait(message)

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next pub/sub message of the channel within ``timeout`` seconds, else None;
        ConnectionError once the hub's connection was lost."""
        try:
            message = await asyncio.wait_for(self._queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return None
        if message is _LOST:
            raise ConnectionError(f"pub/sub connection lost ({self.channel})")
        return message

    async def close(self) -> None:
        """Leave the channel (the hub unsubscribes when no one else follows it)."""
        await self.hub.leave(self)


class PubSubHub:
    """A pub/sub connection to ``url`` shared by the subscriptions of one event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task | None = None
        self._subs: dict[bytes, set[HubSubscription]] = {}
        self._lock = asyncio.Lock()

    @property
    def channels(self) -> int:
        """Channels subscribed now."""
        return len(self._subs)

    async def subscribe(self, channel: str) -> HubSubscription:
        """Follow ``channel`` from now on (connecting first when needed). Raises a Redis
        error or OSError when Redis cannot be reached; nothing is left half-open then."""
        sub = HubSubscription(self, channel)
        key = channel.encode()
        async with self._lock:
            if self._pubsub is None:
                self._client = async_client(self.url)
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                if key not in self._subs:
                    await self._pubsub.subscribe(channel)
            except _REDIS_ERRORS:
                await self._reset()
                raise
            self._subs.setdefault(key, set()).add(sub)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(self._pubsub),
                                                   name=f"pubsub-hub {self.url}")
        return sub

    async def leave(self, sub: HubSubscription) -> None:
        """Drop ``sub``; the channel is unsubscribed once nobody follows it."""
        key = sub.channel.encode()
        async with self._lock:
            subs = self._subs.get(key)
            if subs is None or sub not in subs:
                return  # already gone (the connection was lost meanwhile)
            subs.discard(sub)
            if subs:
                return
            del self._subs[key]
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(sub.channel)
                except _REDIS_ERRORS:
                    await self._reset()

    async def close(self) -> None:
        """Close the connection; current subscriptions read a loss."""
        async with self._lock:
            await self._reset()

    async def _read(self, pubsub: Any) -> None:
        """Hand every message to the subscriptions of its channel until the connection fails
        (then every subscription learns of the loss) or the hub resets."""
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=READ_TIMEOUT_S)
                if message is None:
                    continue
                for sub in list(self._subs.get(message.get("channel"), ())):
                    sub.deliver(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the connection: report it, reset
            logger.info("pub/sub hub connection to %s lost (%s)", self.url, exc)
            async with self._lock:
                if self._pubsub is pubsub:
                    await self._reset()

    async def _reset(self) -> None:
        """(With the lock held.) Forget the connection: every subscription reads a loss; the
        next subscribe connects again."""
        pubsub, client, reader = self._pubsub, self._client, self._reader
        self._pubsub = self._client = self._reader = None
        subs = [sub for group in self._subs.values() for sub in group]
        self._subs.clear()
        for sub in subs:
            sub.deliver(_LOST)
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception:  # closing a broken connection may fail; nothing to keep
                    logger.debug("closing the pub/sub hub connection failed", exc_info=True)
