"""GET /metrics: Prometheus text that prometheus_client's parser reads, admins only."""

from __future__ import annotations

import redis
from prometheus_client.parser import text_string_to_metric_families

from agentic_app.engine.scheduler.service import LEADER_KEY
from agentic_app.services.metrics import TRIGGER_TICK_KEY
from tests.api.conftest import API


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_parse_and_reflect_state(env):
    """Queue depth, jobs per queue/status, executions by status, trigger tick timings and the
    scheduler leader all appear with the values of the database and Redis."""
    _, admin = env.user("root", admin=True)
    wf = env.workflow(admin)
    env.run(admin, wf)
    env.client.post(f"{API}/workflows/{wf}/run", headers=admin, json={"priority": 3})
    client = redis.Redis.from_url(env.redis_url)
    client.hset(TRIGGER_TICK_KEY, mapping={"duration_ms": 4.5, "triggers": 120, "fires": 2,
                                           "at": 1700000000})
    client.set(LEADER_KEY, "scheduler-1")
    resp = env.client.get(f"{API}/metrics", headers=admin)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    samples = _samples(resp.text)
    assert samples[("agentic_queue_depth", ())] == 2
    assert samples[("agentic_queue_jobs", (("queue", "agentic-high"), ("status", "pending")))] == 1
    assert samples[("agentic_queue_jobs", (("queue", "agentic-normal"),
                                           ("status", "pending")))] == 1
    assert samples[("agentic_executions", (("status", "pending"),))] == 2
    assert samples[("agentic_rq_queue_length", (("queue", "agentic-high"),))] == 1
    assert abs(samples[("agentic_trigger_tick_duration_seconds", ())] - 0.0045) < 1e-12
    assert samples[("agentic_trigger_tick_triggers", ())] == 120
    assert samples[("agentic_scheduler_leader", ())] == 1
    assert samples[("agentic_redis_up", ())] == 1
    client.delete(LEADER_KEY)
    samples = _samples(env.client.get(f"{API}/metrics", headers=admin).text)
    assert samples[("agentic_scheduler_leader", ())] == 0


def test_node_duration_histogram(env):
    """Finished node executions feed a per-node-type histogram whose +Inf bucket counts them."""
    from datetime import timedelta

    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import NodeExecution, utcnow

    _, admin = env.user("root", admin=True)
    wf = env.workflow(admin)
    ex_id = env.run(admin, wf)["execution_id"]
    now = utcnow()
    with session_scope(env.db_url) as s:
        for node, ms in (("a", 3.0), ("b", 40.0), ("c", 700.0)):
            s.add(NodeExecution(execution_id=ex_id, node_id=node, node_type="rsi",
                                status="succeeded", started_at=now - timedelta(seconds=1),
                                finished_at=now, duration_ms=ms))
    samples = _samples(env.client.get(f"{API}/metrics", headers=admin).text)
    rsi = (("node_type", "rsi"),)
    assert samples[("agentic_node_duration_seconds_count", rsi)] == 3
    assert samples[("agentic_node_duration_seconds_bucket", (("le", "0.005"),
                                                             ("node_type", "rsi")))] == 1
    assert samples[("agentic_node_duration_seconds_bucket", (("le", "+Inf"),
                                                             ("node_type", "rsi")))] == 3
    assert abs(samples[("agentic_node_duration_seconds_sum", rsi)] - 0.743) < 1e-9


def test_metrics_need_an_admin(env):
    """Without a token 401; with a non-admin's token 403."""
    _, alice = env.user("alice")
    assert env.client.get(f"{API}/metrics").status_code == 401
    assert env.client.get(f"{API}/metrics", headers=alice).status_code == 403
