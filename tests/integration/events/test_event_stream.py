"""Catch-up-then-live streams against real Redis and SQLite: complete, ordered, no duplicates."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
import redis

from agentic_app.db.engine import Database
from agentic_app.engine.events.bus import EventBus
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.engine.events.stream import stream_execution_events, stream_user_events
from tests.integration.events.helpers import (
    T0,
    collect,
    make_execution,
    make_user_and_workflow,
    run,
    run_events,
    set_status,
)

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def world(sqlite_db_url):
    """(database url, user id, execution id) of a running execution."""
    user_id, flow_id = make_user_and_workflow(sqlite_db_url)
    return sqlite_db_url, user_id, make_execution(sqlite_db_url, user_id, flow_id)


def store(url: str, events, publish_with: EventBus | None = None, user_id: int | None = None):
    """Write events through DatabaseEventSink (publishing after commit when a bus is given)."""
    hook = publish_with.publisher(user_id) if publish_with else None
    with DatabaseEventSink(Database(url), after_commit=hook) as sink:
        for event in events:
            sink.emit(event)


def seqs(items) -> list[int]:
    return [item["seq"] for item in items]


def test_catch_up_then_live_without_duplicates(world, redis_url):
    """Stored events come first, then live ones; re-published old seqs are not repeated."""
    url, user_id, ex = world
    bus = EventBus(redis.Redis.from_url(redis_url))
    events = run_events(ex, 6)
    store(url, events[:3])

    async def after_each(item):
        if item["seq"] == 3:
            bus.publish(events[1:3], user_id=user_id)  # duplicates of 2 and 3
            await asyncio.to_thread(store, url, events[3:], bus, user_id)

    stream = stream_execution_events(ex, db=Database(url), redis_url=redis_url, idle_poll_s=30)
    items = run(collect(stream, on_item=after_each))
    assert seqs(items) == [1, 2, 3, 4, 5, 6]
    assert items[-1]["type"] == "ExecutionFinished"
    assert all(i["user_id"] == user_id and i["attempt"] == 1 for i in items)


def test_dropped_live_message_is_fetched_from_the_database(world, redis_url):
    """Live 5 and 7 without 6 (6 stored) gives 5, 6, 7, well before the idle re-read."""
    url, user_id, ex = world
    bus = EventBus(redis.Redis.from_url(redis_url))
    events = run_events(ex, 7)
    store(url, events[:4])

    async def after_each(item):
        if item["seq"] == 4:
            await asyncio.to_thread(store, url, events[4:])  # stored, not published
            bus.publish([events[4], events[6]], user_id=user_id)  # 6 is "lost"

    started = time.monotonic()
    stream = stream_execution_events(ex, db=Database(url), redis_url=redis_url, idle_poll_s=30)
    items = run(collect(stream, on_item=after_each))
    assert seqs(items) == [1, 2, 3, 4, 5, 6, 7]
    assert time.monotonic() - started < 10  # the gap was filled on sight, not by the 30 s poll


def test_subscriber_joining_mid_run_gets_everything(world, redis_url):
    """A writer thread stores+publishes 60 events while the stream joins halfway: full run."""
    url, user_id, ex = world
    bus = EventBus(redis.Redis.from_url(redis_url))
    events = run_events(ex, 60)
    halfway = threading.Event()

    def writer():
        with DatabaseEventSink(Database(url), after_commit=bus.publisher(user_id)) as sink:
            for i, event in enumerate(events):
                sink.emit(event)
                if i == 30:
                    sink.flush()
                    halfway.set()
                time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    assert halfway.wait(10)
    items = run(collect(stream_execution_events(
        ex, db=Database(url), redis_url=redis_url, idle_poll_s=30)))
    thread.join(10)
    assert seqs(items) == list(range(1, 61))
    assert items[-1]["type"] == "ExecutionFinished"


def test_finished_before_subscribing_ends_from_the_database(world, redis_url):
    """ExecutionFinished stored before the stream starts: all events, then the stream ends."""
    url, _, ex = world
    store(url, run_events(ex, 4))
    set_status(url, ex, "completed")
    started = time.monotonic()
    items = run(collect(stream_execution_events(ex, db=Database(url), redis_url=redis_url)))
    assert seqs(items) == [1, 2, 3, 4]
    later = run(collect(stream_execution_events(
        ex, after_seq=4, db=Database(url), redis_url=redis_url)))
    assert later == []
    assert time.monotonic() - started < 3


def test_retryable_failure_follows_the_next_attempt(world, redis_url):
    """A retryable failed attempt does not end the stream; attempt numbers come from the DB."""
    url, _, ex = world
    first = run_events(ex, 3, finish="failed", retryable=True)
    second = run_events(ex, 3, start=4, attempt=2)
    store(url, first)

    async def after_each(item):
        if item["seq"] == 3:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(store, url, second)  # no publish: found by the DB re-read

    items = run(collect(stream_execution_events(
        ex, db=Database(url), redis_url=redis_url, idle_poll_s=1), on_item=after_each))
    assert seqs(items) == [1, 2, 3, 4, 5, 6]
    assert [i["attempt"] for i in items] == [1, 1, 1, 2, 2, 2]


def test_final_failure_ends_when_the_queue_marks_it_failed(world, redis_url):
    """After a retryable ExecutionFinished, a terminal execution status ends the stream."""
    url, _, ex = world
    store(url, run_events(ex, 3, finish="failed", retryable=True))
    set_status(url, ex, "failed")
    items = run(collect(stream_execution_events(ex, db=Database(url), redis_url=redis_url)))
    assert seqs(items) == [1, 2, 3]


def test_unknown_execution_ends_at_once(sqlite_db_url, redis_url):
    """Streaming an execution that does not exist yields nothing and returns."""
    assert run(collect(stream_execution_events(
        999, db=Database(sqlite_db_url), redis_url=redis_url))) == []


def test_redis_unavailable_falls_back_to_polling(world):
    """With no Redis, events written over time still all arrive by polling the database."""
    url, _, ex = world
    events = run_events(ex, 8)
    store(url, events[:2])

    def writer():
        for event in events[2:]:
            time.sleep(0.05)
            store(url, [event])

    thread = threading.Thread(target=writer)
    thread.start()
    items = run(collect(stream_execution_events(
        ex, db=Database(url), redis_url=DEAD_REDIS, idle_poll_s=30, fallback_poll_s=0.1)))
    thread.join(10)
    assert seqs(items) == list(range(1, 9))


def test_subscription_killed_mid_stream_recovers(world, redis_url):
    """Killing the subscriber's Redis connection loses nothing: polling, then re-subscribing."""
    url, user_id, ex = world
    client = redis.Redis.from_url(redis_url)
    bus = EventBus(client)
    events = run_events(ex, 10)
    store(url, events[:2], bus, user_id)

    async def after_each(item):
        if item["seq"] == 2:
            client.client_kill_filter(_type="pubsub")
            await asyncio.to_thread(store, url, events[2:6], bus, user_id)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(store, url, events[6:], bus, user_id)

    items = run(collect(stream_execution_events(
        ex, db=Database(url), redis_url=redis_url, idle_poll_s=30, fallback_poll_s=0.1),
        on_item=after_each))
    assert seqs(items) == list(range(1, 11))


def test_user_stream_live_and_since(sqlite_db_url, redis_url):
    """The user stream replays stored events since a time, then live ones of all executions."""
    url = sqlite_db_url
    user_id, flow_id = make_user_and_workflow(url)
    ex_a, ex_b = (make_execution(url, user_id, flow_id) for _ in range(2))
    bus = EventBus(redis.Redis.from_url(redis_url))
    store(url, run_events(ex_a, 3))

    async def after_each(item):
        if (item["execution_id"], item["seq"]) == (ex_a, 3):
            await asyncio.to_thread(store, url, run_events(ex_b, 2), bus, user_id)
            bus.publish(run_events(ex_a, 3), user_id=user_id)  # old: must not repeat

    stream = stream_user_events(user_id, redis_url=redis_url, db=Database(url),
                                since=T0 - timedelta(seconds=1))
    items = run(collect(stream, limit=5, on_item=after_each))
    assert [(i["execution_id"], i["seq"]) for i in items] == [
        (ex_a, 1), (ex_a, 2), (ex_a, 3), (ex_b, 1), (ex_b, 2)]
