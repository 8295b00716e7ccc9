"""User-visible errors carry the error type and message; the traceback of a node that raised
stays in the server log: a real execution (the RQ job function) whose node raises, with its
events read back through the API."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from agentic_app.engine.runtime import clients, tasks
from agentic_app.nodes.base import NodeContext, NodeParams, NodeRegistry, NodeType
from agentic_app.nodes.library import registry as product_registry
from tests.api.conftest import ApiEnv

API = "/api/agentic"


def _explode(depth: int) -> None:
    if depth:
        _explode(depth - 1)
    raise ZeroDivisionError("secret_internal_detail went wrong")


class CrashingLog(NodeType):
    """Stands in for the ``log`` node and raises an unexpected exception deep in its code."""

    type_name = "log"

    class Params(NodeParams):
        """The log node's message (unused)."""

        message: str = ""

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        _explode(3)
        return {}


@pytest.fixture
def crashing_worker(env: ApiEnv, process_settings):
    """RQ job functions run in this process on the test's database and Redis, with the
    product's node types except ``log``, which crashes."""
    registry = NodeRegistry()
    for cls in product_registry.all():
        registry.register(cls)
    registry.register(CrashingLog, replace=True)
    process_settings(DATABASE_URL=env.db_url, REDIS_URL=env.redis_url)
    clients.configure(registry=registry)
    yield
    clients.configure()


def test_worker_traceback_stays_in_the_server_log(env: ApiEnv, crashing_worker, caplog):
    """The failed node's event, the execution, its timeline and the queue job say
    ``ZeroDivisionError: <message>`` and hold no traceback; the server log has it."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, definition={"nodes": [
        {"id": "boom", "type": "log", "params": {"message": "hi"}}], "edges": []})
    job = env.run(alice, wf)
    with caplog.at_level(logging.ERROR):
        assert tasks.run_execution(job["id"], 1) == "failed"
    assert "Traceback" in caplog.text and "_explode" in caplog.text

    events: list[dict] = []
    url = f"{API}/monitoring/executions/{job['execution_id']}"
    with env.client.websocket_connect(url, headers=alice) as ws:
        while not events or events[-1].get("type") != "closed":
            events.append(ws.receive_json())
    failed = [e for e in events if e.get("node_id") == "boom" and e.get("level") == "error"]
    assert failed, events
    assert "ZeroDivisionError: secret_internal_detail went wrong" in json.dumps(failed)
    visible = [json.dumps(events)]
    for path in (url, f"{url}/timeline", f"{API}/queue/jobs/{job['id']}"):
        resp = env.client.get(path, headers=alice)
        assert resp.status_code == 200, resp.text
        visible.append(resp.text)
    assert "ZeroDivisionError" in visible[1] and "ZeroDivisionError" in visible[3]
    for text in visible:
        assert "Traceback" not in text and "_explode" not in text and ".py" not in text
