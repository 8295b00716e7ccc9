"""The shared pub/sub hub against real Redis and SQLite: every live stream of an event loop
on one connection, each still complete and ordered, and nothing lost when that connection
dies."""

from __future__ import annotations

import asyncio

import pytest
import redis

from agentic_app.db.engine import Database
from agentic_app.engine.events.bus import EventBus
from agentic_app.engine.events.hub import PubSubHub
from agentic_app.engine.events.stream import stream_execution_events, stream_user_events
from tests.integration.events.helpers import (
    collect,
    make_execution,
    make_user_and_workflow,
    run,
    run_events,
)
from tests.integration.events.test_event_stream import seqs, store


def _pubsub_clients(client: redis.Redis) -> list[dict]:
    """The server's pub/sub connections that follow at least one channel."""
    return [c for c in client.client_list(_type="pubsub") if int(c.get("sub", 0)) > 0]


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def two_runs(sqlite_db_url, redis_url):
    """(db url, Database, user id, two running executions, a Redis client, an EventBus)."""
    user_id, flow_id = make_user_and_workflow(sqlite_db_url)
    ex_a, ex_b = (make_execution(sqlite_db_url, user_id, flow_id) for _ in range(2))
    client = redis.Redis.from_url(redis_url)
    return (sqlite_db_url, Database(sqlite_db_url), user_id, ex_a, ex_b, client,
            EventBus(client))


def test_streams_of_a_loop_share_one_connection(two_runs, redis_url):
    """Two execution streams and a user stream subscribe through one connection (three
    channels on it), each gets exactly its own events in order, and the hub leaves every
    channel when the streams end."""
    url, db, user_id, ex_a, ex_b, client, bus = two_runs

    async def scenario():
        hub = PubSubHub(redis_url)
        streams = [
            asyncio.create_task(collect(stream_execution_events(
                ex, db=db, redis_url=redis_url, hub=hub, idle_poll_s=30)))
            for ex in (ex_a, ex_b)]
        user = asyncio.create_task(collect(stream_user_events(
            user_id, db=db, redis_url=redis_url, hub=hub, idle_poll_s=30), limit=10))
        await _until(lambda: hub.channels == 3)
        connections = await asyncio.to_thread(_pubsub_clients, client)
        assert [int(c["sub"]) for c in connections] == [3]
        await asyncio.to_thread(store, url, run_events(ex_a, 5), bus, user_id)
        await asyncio.to_thread(store, url, run_events(ex_b, 5), bus, user_id)
        a, b = await asyncio.gather(*streams)
        everything = await user
        await _until(lambda: hub.channels == 0)
        await hub.close()
        return a, b, everything

    a, b, everything = run(scenario())
    assert seqs(a) == seqs(b) == [1, 2, 3, 4, 5]
    assert {i["execution_id"] for i in a} == {ex_a} and {i["execution_id"] for i in b} == {ex_b}
    assert sorted((i["execution_id"], i["seq"]) for i in everything) == sorted(
        [(ex_a, s) for s in range(1, 6)] + [(ex_b, s) for s in range(1, 6)])
    assert _pubsub_clients(client) == []


def test_killed_hub_connection_loses_nothing(two_runs, redis_url):
    """Killing the hub's connection mid-run: both streams poll the database, subscribe again
    through a new hub connection, and still deliver every event once, in order."""
    url, db, user_id, ex_a, ex_b, client, bus = two_runs
    events = {ex: run_events(ex, 10) for ex in (ex_a, ex_b)}
    for ex in (ex_a, ex_b):
        store(url, events[ex][:2], bus, user_id)

    async def scenario():
        hub = PubSubHub(redis_url)
        streams = [asyncio.create_task(collect(stream_execution_events(
            ex, db=db, redis_url=redis_url, hub=hub, idle_poll_s=30, fallback_poll_s=0.1)))
            for ex in (ex_a, ex_b)]
        await _until(lambda: hub.channels == 2)
        before = [c["id"] for c in await asyncio.to_thread(_pubsub_clients, client)]
        await asyncio.to_thread(client.client_kill_filter, _type="pubsub")
        for ex in (ex_a, ex_b):
            await asyncio.to_thread(store, url, events[ex][2:6], bus, user_id)
        for _ in range(250):  # both subscribed again, on one new connection
            after = await asyncio.to_thread(_pubsub_clients, client)
            if [int(c["sub"]) for c in after] == [2] and after[0]["id"] not in before:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"no new shared connection: {before} -> {after}")
        for ex in (ex_a, ex_b):
            await asyncio.to_thread(store, url, events[ex][6:], bus, user_id)
        results = await asyncio.gather(*streams)
        await hub.close()
        return results

    a, b = run(scenario(), timeout=30)
    assert seqs(a) == seqs(b) == list(range(1, 11))


def test_closing_one_stream_keeps_the_others(sqlite_db_url, redis_url):
    """Two streams of the same execution share its channel: closing one leaves the channel
    subscribed for the other, which still gets the live events."""
    url = sqlite_db_url
    db = Database(url)
    user_id, flow_id = make_user_and_workflow(url)
    ex = make_execution(url, user_id, flow_id)
    bus = EventBus(redis.Redis.from_url(redis_url))

    async def scenario():
        hub = PubSubHub(redis_url)
        first = stream_execution_events(ex, db=db, redis_url=redis_url, hub=hub, idle_poll_s=30)
        second = asyncio.create_task(collect(stream_execution_events(
            ex, db=db, redis_url=redis_url, hub=hub, idle_poll_s=30)))
        await asyncio.to_thread(store, url, run_events(ex, 5)[:1], bus, user_id)
        assert (await anext(first))["seq"] == 1
        await _until(lambda: hub.channels == 1)
        await first.aclose()
        assert hub.channels == 1
        await asyncio.to_thread(store, url, run_events(ex, 5)[1:], bus, user_id)
        items = await second
        await hub.close()
        return items

    assert seqs(run(scenario())) == [1, 2, 3, 4, 5]
