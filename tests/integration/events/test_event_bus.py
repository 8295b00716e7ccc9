"""EventBus against a real Redis: both channels, payload shape, no exception when Redis is down."""

from __future__ import annotations

import asyncio
import json
import time

import redis

from agentic_app.domain.events import event_from_dict
from agentic_app.engine.events.bus import (
    EventBus,
    async_subscription,
    decode_events,
    execution_channel,
    subscription,
    user_channel,
)
from tests.integration.events.helpers import run_events


def _drain(pubsub, count: int, timeout: float = 3.0) -> list[dict]:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got.extend(decode_events(pubsub.get_message(timeout=0.2)))
    return got


def test_publish_reaches_execution_and_user_channels(redis_url):
    """Each event arrives, in order, on its execution channel and on its owner's channel;
    the batch is one message per channel."""
    client = redis.Redis.from_url(redis_url)
    bus = EventBus(client)
    events = run_events(41, 3)
    with subscription(client, execution_channel(41)) as ex_sub, \
            subscription(client, user_channel(7)) as user_sub:
        assert bus.publish(events, user_id=7) == 2
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
                bodies = decode_events(await pubsub.get_message(timeout=0.2))
                if bodies:
                    return bodies[0]
        raise AssertionError("nothing received")

    body = asyncio.run(scenario())
    assert (body["type"], body["seq"], body["user_id"]) == ("ExecutionStarted", 1, 2)


def test_decode_events_ignores_noise():
    """Control messages and malformed payloads decode to nothing; a single event object and
    a batch decode to their events, non-events in a batch dropped."""
    assert decode_events(None) == []
    assert decode_events({"type": "subscribe", "data": 1}) == []
    assert decode_events({"type": "message", "data": b"not json", "channel": b"c"}) == []
    assert decode_events({"type": "message", "data": json.dumps({"x": 1})}) == []
    one = {"seq": 1, "execution_id": 3}
    assert decode_events({"type": "message", "data": json.dumps(one)}) == [one]
    batch = [one, {"x": 1}, {"seq": 2, "execution_id": 3}]
    assert decode_events({"type": "message", "data": json.dumps(batch)}) == [one, batch[2]]


def test_publish_groups_events_of_several_executions(redis_url):
    """A batch spanning two executions: one message per execution channel with its own
    events, and the whole batch in order on the user's channel."""
    client = redis.Redis.from_url(redis_url)
    a, b = run_events(61, 2), run_events(62, 1)
    mixed = [a[0], b[0], a[1]]
    with subscription(client, execution_channel(61)) as sub_a, \
            subscription(client, execution_channel(62)) as sub_b, \
            subscription(client, user_channel(3)) as sub_u:
        assert EventBus(client).publish(mixed, user_id=3) == 3
        got_a, got_b, got_u = _drain(sub_a, 2), _drain(sub_b, 1), _drain(sub_u, 3)
    assert [e["seq"] for e in got_a] == [1, 2]
    assert [(e["execution_id"], e["seq"]) for e in got_b] == [(62, 1)]
    assert [(e["execution_id"], e["seq"]) for e in got_u] == [(61, 1), (62, 1), (61, 2)]
