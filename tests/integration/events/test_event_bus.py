"""EventBus against a real Redis: both channels, payload shape, no exception when Redis is down."""

from __future__ import annotations

import asyncio
import json
import time

import redis

from agentic_app.domain.events import event_from_dict
from agentic_app.engine.event_bus import (
    EventBus,
    async_subscription,
    decode_message,
    execution_channel,
    subscription,
    user_channel,
)
from tests.integration.events.helpers import run_events


def _drain(pubsub, count: int, timeout: float = 3.0) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        body = decode_message(pubsub.get_message(timeout=0.2))
        if body is not None:
            got.append(body)
    return got


def test_publish_reaches_execution_and_user_channels(redis_url):
    """Each event arrives, in order, on its execution channel and on its owner's channel."""
    client = redis.Redis.from_url(redis_url)
    bus = EventBus(client)
    events = run_events(41, 3)
    with subscription(client, execution_channel(41)) as ex_sub, \
            subscription(client, user_channel(7)) as user_sub:
        assert bus.publish(events, user_id=7) == 6
        by_exec, by_user = _drain(ex_sub, 3), _drain(user_sub, 3)
    assert [e["seq"] for e in by_exec] == [1, 2, 3]
    assert by_user == by_exec
    assert all(e["user_id"] == 7 and e["execution_id"] == 41 for e in by_exec)
    assert event_from_dict(by_exec[-1]).to_dict() == events[-1].to_dict()


def test_publisher_callback_and_without_user(redis_url):
    """``publisher(None)`` publishes on the execution channel only (nothing on user channels)."""
    client = redis.Redis.from_url(redis_url)
    bus = EventBus(client)
    with subscription(client, execution_channel(5)) as ex_sub:
        bus.publisher(None)(run_events(5, 2))
        got = _drain(ex_sub, 2)
    assert [e["seq"] for e in got] == [1, 2]
    assert got[0]["user_id"] is None


def test_publish_swallows_redis_errors():
    """With no Redis listening, publish returns 0 instead of raising into the writer thread."""
    bus = EventBus(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    assert bus.publish(run_events(1, 2), user_id=1) == 0
    assert bus.publish([], user_id=1) == 0


def test_async_subscription_receives(redis_url):
    """The asyncio subscription helper receives what the sync bus publishes."""

    async def scenario() -> dict:
        async with async_subscription(redis_url, execution_channel(9)) as pubsub:
            EventBus.from_url(redis_url).publish(run_events(9, 1), user_id=2)
            for _ in range(20):
                body = decode_message(await pubsub.get_message(timeout=0.2))
                if body is not None:
                    return body
        raise AssertionError("nothing received")

    body = asyncio.run(scenario())
    assert (body["type"], body["seq"], body["user_id"]) == ("ExecutionStarted", 1, 2)


def test_decode_message_ignores_noise():
    """Control messages and malformed payloads decode to None."""
    assert decode_message(None) is None
    assert decode_message({"type": "subscribe", "data": 1}) is None
    assert decode_message({"type": "message", "data": b"not json", "channel": b"c"}) is None
    assert decode_message({"type": "message", "data": json.dumps({"x": 1})}) is None
