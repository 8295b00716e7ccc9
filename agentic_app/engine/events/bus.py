"""Redis pub/sub for execution events: publish after commit, subscribe sync or asyncio.

Every stored event is published twice: on its execution's channel and on its owner's channel.
Pub/sub is at-most-once: a message can be lost (Redis restart, slow subscriber, network
blip), so publishing never raises into the caller and subscribers that need every event use
:mod:`agentic_app.engine.events.stream`, which fills gaps from the database by ``seq``.

Message payload: a JSON array of events (a batch, in seq order, as stored together), each
``Event.to_dict()`` plus ``"user_id"`` (the execution's owner). One message per channel per
batch: a short execution's whole history is two PUBLISH commands, not two per event.
Publish only what is committed (``DatabaseEventSink(after_commit=bus.publisher(user_id))``):
then any seq seen live is already readable from the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub as AsyncPubSub
from redis.client import PubSub

from agentic_app.domain.events import Event

logger = logging.getLogger(__name__)

EXECUTION_CHANNEL_PREFIX = "agentic:events:exec:"
"""Channel prefix of one execution's events (``agentic:events:exec:<execution_id>``)."""
USER_CHANNEL_PREFIX = "agentic:events:user:"
"""Channel prefix of every event of one user's executions (``agentic:events:user:<user_id>``)."""


def execution_channel(execution_id: int | str) -> str:
    """The pub/sub channel of one execution."""
    return f"{EXECUTION_CHANNEL_PREFIX}{execution_id}"


def user_channel(user_id: int | str) -> str:
    """The pub/sub channel of one user (all of their executions)."""
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def batch_payload(events: Iterable[Event], *, user_id: int | None) -> str:
    """The JSON text published for a batch of events: their dict forms plus ``user_id``."""
    bodies = []
    for event in events:
        body = event.to_dict()
        body["user_id"] = user_id
        bodies.append(body)
    return json.dumps(bodies, separators=(",", ":"), allow_nan=False)


def _is_event(body: Any) -> bool:
    return isinstance(body, dict) and "seq" in body and "execution_id" in body


def decode_events(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The event dicts carried by a pub/sub ``message``, in order; empty for control or
    malformed messages (a single event object is accepted too)."""
    if not message or message.get("type") not in ("message", "pmessage"):
        return []
    try:
        body = json.loads(message["data"])
    except (TypeError, ValueError):
        logger.warning("dropping malformed event message on %r", message.get("channel"))
        return []
    if _is_event(body):
        return [body]
    if isinstance(body, list):
        return [item for item in body if _is_event(item)]
    return []


class EventBus:
    """Publishes events on Redis; never raises on Redis errors (logs and drops instead)."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    @classmethod
    def from_url(cls, url: str) -> EventBus:
        """A bus on a new client with bounded timeouts (see ``redis_conn.connect``)."""
        from agentic_app.engine.redis_conn import connect

        return cls(connect(url))

    def publish(self, events: Event | Iterable[Event], *, user_id: int | None = None) -> int:
        """Publish events, in order, as one message on each execution's channel (and one on
        ``user_id``'s channel when given), in one pipeline round trip. Returns the number of
        PUBLISH commands sent (0 when Redis failed: the events stay in the database only)."""
        batch = [events] if isinstance(events, Event) else list(events)
        if not batch:
            return 0
        try:
            pipe = self.redis.pipeline(transaction=False)
            publish_into(pipe, batch, user_id)
            return len(pipe.execute())
        except (redis.RedisError, OSError, ValueError) as exc:
            logger.warning("event publish dropped (%d events, seq %s..%s): %s",
                           len(batch), batch[0].seq, batch[-1].seq, exc)
            return 0

    def publisher(self, user_id: int | None) -> Callable[[list[Event]], None]:
        """A callback for ``DatabaseEventSink(after_commit=...)`` publishing for ``user_id``."""

        def _publish(events: list[Event]) -> None:
            self.publish(events, user_id=user_id)

        return _publish


def publish_into(pipe: Any, events: list[Event], user_id: int | None) -> None:
    """Queue the PUBLISH commands of ``events`` on a Redis pipeline: one batch message per
    execution channel (events grouped in order) and, with ``user_id``, one on the user's."""
    groups: dict[Any, list[Event]] = {}
    for event in events:
        groups.setdefault(event.execution_id, []).append(event)
    payloads = [batch_payload(group, user_id=user_id) for group in groups.values()]
    for execution_id, payload in zip(groups, payloads, strict=True):
        pipe.publish(execution_channel(execution_id), payload)
    if user_id is not None:
        whole = payloads[0] if len(payloads) == 1 else batch_payload(events, user_id=user_id)
        pipe.publish(user_channel(user_id), whole)


@contextmanager
def subscription(redis_client: redis.Redis, *channels: str) -> Iterator[PubSub]:
    """A synchronous subscription to ``channels`` (control messages ignored); closed on exit.
    Read with ``pubsub.get_message(timeout=...)`` and :func:`decode_events`."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(*channels)
        yield pubsub
    finally:
        pubsub.close()


def async_client(url: str, *, timeout: float = 2.0) -> aioredis.Redis:
    """An asyncio Redis client with a bounded connect timeout, for subscribers."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                   socket_keepalive=True, health_check_interval=30)


@asynccontextmanager
async def async_subscription(url: str, *channels: str) -> AsyncIterator[AsyncPubSub]:
    """An asyncio subscription to ``channels`` on a fresh client; raises ``redis.RedisError``
    or ``OSError`` when Redis is unreachable. Both client and pubsub are closed on exit."""
    client = async_client(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(*channels)
        yield pubsub
    finally:
        try:
            await pubsub.aclose()
        finally:
            await client.aclose()
