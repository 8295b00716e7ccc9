"""Monitoring routes and the WebSocket: a real execution's timeline and metrics, and an
execution streamed in order, without gap or duplicate, to a client that connects mid-run."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from starlette.websockets import WebSocketDisconnect

from agentic_app.db.engine import Database
from agentic_app.domain.events import ExecutionFinished, ExecutionStarted, NodeLog
from agentic_app.engine.events.bus import EventBus
from agentic_app.engine.events.db_sink import DatabaseEventSink
from agentic_app.settings import get_settings
from tests.api.conftest import API, PRICE_TEMPLATE

WS = f"{API}/monitoring/executions"


@pytest.fixture
def run_inline(env, monkeypatch):
    """Run a queued job's attempt in this process, as an RQ worker would."""
    monkeypatch.setenv("DATABASE_URL", env.db_url)
    monkeypatch.setenv("REDIS_URL", env.redis_url)
    get_settings.cache_clear()

    def run(job_id: int, attempt: int = 1) -> str:
        from agentic_app.engine.runtime.tasks import run_execution

        return run_execution(job_id, attempt)

    yield run
    get_settings.cache_clear()


def test_timeline_metrics_and_active_of_a_real_execution(env, run_inline):
    """A run-now execution is active while pending; once run, its timeline lists every node
    with start, end, duration, status and attempt, and its metrics are final."""
    c = env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice, PRICE_TEMPLATE)
    job = env.run(alice, wf)
    ex_id = job["execution_id"]
    active = c.get(f"{API}/monitoring/active", headers=alice).json()
    assert [a["id"] for a in active["items"]] == [ex_id]
    assert run_inline(job["id"]) == "completed"
    assert c.get(f"{API}/monitoring/active", headers=alice).json()["total"] == 0
    timeline = c.get(f"{WS}/{ex_id}/timeline", headers=alice).json()
    assert timeline["status"] == "completed" and timeline["duration_ms"] >= 0
    nodes = {n["node_id"]: n for n in timeline["nodes"]}
    assert set(nodes) == {"trigger", "notify", "buy"}
    for node in nodes.values():
        assert node["status"] == "succeeded" and node["attempt"] == 1
        assert node["started_at"] <= node["finished_at"] and node["duration_ms"] >= 0
    assert timeline["nodes"][0]["node_id"] == "trigger"
    metrics = c.get(f"{WS}/{ex_id}/metrics", headers=alice).json()
    assert metrics["final"] is True and metrics["status"] == "completed"
    assert metrics["total_nodes"] == 3 and metrics["successful_nodes"] == 3
    assert metrics["nodes_by_status"] == {"succeeded": 3}
    listed = c.get(f"{WS}", headers=alice, params={"status": "completed"}).json()
    assert [e["id"] for e in listed["items"]] == [ex_id]
    assert listed["items"][0]["job_id"] == job["id"]
    with c.websocket_connect(f"{WS}/{ex_id}") as ws:  # finished: history, then closed
        ws.send_json({"token": alice["Authorization"].split()[1]})
        messages = _until_closed(ws)
    seqs = [m["seq"] for m in messages[:-1]]
    assert seqs == list(range(1, len(seqs) + 1)) and messages[-2]["type"] == "ExecutionFinished"
    assert messages[-1] == {"type": "closed", "execution_id": ex_id, "status": "completed",
                            "last_seq": seqs[-1]}


def _until_closed(ws) -> list[dict]:
    messages = []
    while True:
        message = ws.receive_json()
        messages.append(message)
        if message["type"] in ("closed", "error"):
            return messages


def _events(execution_id: int, start: int, stop: int, total: int) -> list:
    out = []
    for seq in range(start, stop):
        common = {"execution_id": execution_id, "seq": seq}
        if seq == 1:
            out.append(ExecutionStarted(**common, data={"attempt": 1}))
        elif seq == total:
            out.append(ExecutionFinished(**common, data={"status": "completed",
                                                         "error_retryable": False}))
        else:
            out.append(NodeLog(**common, node_id="n", message=f"line {seq}"))
    return out


def test_websocket_mid_run_gets_everything_in_order(env):
    """Connected after 3 of 40 events, the client receives 1..40 in order, each once, then
    ``closed`` with the final status."""
    c = env.client
    alice_id, alice = env.user("alice")
    wf = env.workflow(alice)
    ex_id = env.run(alice, wf)["execution_id"]
    bus = EventBus(redis.Redis.from_url(env.redis_url))
    total = 40
    sink = DatabaseEventSink(Database(env.db_url), after_commit=bus.publisher(alice_id))
    for event in _events(ex_id, 1, 4, total):
        sink.emit(event)
    sink.flush()

    def produce():
        for event in _events(ex_id, 4, total + 1, total):
            sink.emit(event)
            if event.seq % 5 == 0:
                sink.flush()
                time.sleep(0.02)
        sink.close()

    token = alice["Authorization"].split()[1]
    with c.websocket_connect(f"{WS}/{ex_id}?token={token}") as ws:
        first = [ws.receive_json() for _ in range(3)]
        producer = threading.Thread(target=produce)
        producer.start()
        rest = _until_closed(ws)
        producer.join()
    messages = first + rest
    assert [m["seq"] for m in messages[:-1]] == list(range(1, total + 1))
    assert messages[-1]["type"] == "closed" and messages[-1]["status"] == "completed"


def test_websocket_refuses_missing_token_and_other_users(env):
    """No valid token: error then close 4401; another user's execution: close 4404."""
    c = env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    ex_id = env.run(alice, env.workflow(alice))["execution_id"]
    with c.websocket_connect(f"{WS}/{ex_id}?token=nope") as ws:
        assert ws.receive_json()["code"] == 4401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
    with c.websocket_connect(f"{WS}/{ex_id}", headers=bob) as ws:
        assert ws.receive_json()["code"] == 4404
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404
    with c.websocket_connect(f"{WS}/{ex_id + 999}", headers=alice) as ws:
        assert ws.receive_json()["code"] == 4404


def test_user_events_websocket_streams_only_the_users_executions(env):
    """/monitoring/events sends the events of the caller's executions (stored ones since
    ``since`` first), none of another user's; without a valid token it closes with 4401."""
    from datetime import UTC, datetime, timedelta

    c = env.client
    alice_id, alice = env.user("alice")
    bob_id, bob = env.user("bob")
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    bus = EventBus(redis.Redis.from_url(env.redis_url))
    for user_id, headers in ((bob_id, bob), (alice_id, alice)):
        ex_id = env.run(headers, env.workflow(headers))["execution_id"]
        sink = DatabaseEventSink(env.services.db, after_commit=bus.publisher(user_id))
        for event in _events(ex_id, 1, 4, 3):
            sink.emit(event)
        sink.close()
    token = alice["Authorization"].split()[1]
    received: list[dict] = []
    with c.websocket_connect(f"{API}/monitoring/events?token={token}&since={since}") as ws:
        reader = threading.Thread(  # the stream never ends: bound the wait
            target=lambda: received.extend(ws.receive_json() for _ in range(3)), daemon=True)
        reader.start()
        reader.join(30)
    assert len(received) == 3, received
    assert {e["user_id"] for e in received} == {alice_id}
    assert [(e["execution_id"], e["seq"]) for e in received] == [(ex_id, 1), (ex_id, 2),
                                                                (ex_id, 3)]
    with c.websocket_connect(f"{API}/monitoring/events?token=nope") as ws:
        assert ws.receive_json()["code"] == 4401
