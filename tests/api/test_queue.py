"""Queue routes: status counts, pending and job lists, cancel and retry (no workers running,
so enqueued jobs stay pending)."""

from __future__ import annotations

from tests.api.conftest import API


def test_status_cancel_and_retry(any_env):
    """Two runs show as pending in /queue/status; cancel one (cancelled, counted), cancel it
    again (idempotent), retry it (new attempt, pending), and a completed-state conflict is 409."""
    env, c = any_env, any_env.client
    _, alice = env.user("alice")
    wf = env.workflow(alice)
    first, second = env.run(alice, wf), env.run(alice, wf)
    status = c.get(f"{API}/queue/status", headers=alice).json()
    assert status["counts"]["pending"] == 2
    assert status["by_priority"]["normal"]["pending"] == 2
    assert status["queue"]["depth"] == 2 and status["queue"]["max_queue_size"] == 1000
    assert status["redis_ok"] is True and status["workers_online"] == 0
    assert sum(status["queue"]["rq_lengths"].values()) == 2
    cancelled = c.post(f"{API}/queue/jobs/{first['id']}/cancel", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = c.post(f"{API}/queue/jobs/{first['id']}/cancel", headers=alice)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    status = c.get(f"{API}/queue/status", headers=alice).json()
    assert status["counts"]["pending"] == 1 and status["counts"]["cancelled"] == 1
    assert status["throughput"]["cancelled"] == 1 and status["throughput"]["completed"] == 0
    pending = c.get(f"{API}/queue/pending", headers=alice).json()
    assert [j["id"] for j in pending["items"]] == [second["id"]]
    retried = c.post(f"{API}/queue/jobs/{first['id']}/retry", headers=alice)
    assert retried.status_code == 202
    assert retried.json()["status"] == "pending" and retried.json()["attempt"] == 2
    assert retried.json()["execution_id"] == first["execution_id"]
    conflict = c.post(f"{API}/queue/jobs/{second['id']}/retry", headers=alice)
    assert conflict.status_code == 409 and conflict.json()["field"] == "status"
    jobs = c.get(f"{API}/queue/jobs", headers=alice, params={"status": ["pending"]}).json()
    assert jobs["total"] == 2
    one = c.get(f"{API}/queue/jobs/{first['id']}", headers=alice).json()
    assert one["attempt"] == 2 and one["priority_level"] == "normal"


def test_lists_filter_by_workflow_priority_and_date(env):
    """Pending and job lists filter by workflow, priority band and creation date."""
    c = env.client
    _, alice = env.user("alice")
    wf_a, wf_b = env.workflow(alice), env.workflow(alice)
    env.run(alice, wf_a)
    high = c.post(f"{API}/workflows/{wf_b}/run", headers=alice, json={"priority": 5}).json()
    pending = c.get(f"{API}/queue/pending", headers=alice).json()
    assert pending["items"][0]["id"] == high["id"]  # higher priority first
    assert c.get(f"{API}/queue/pending?workflow_id={wf_a}", headers=alice).json()["total"] == 1
    assert [j["id"] for j in c.get(f"{API}/queue/jobs?priority=high",
                                   headers=alice).json()["items"]] == [high["id"]]
    later = c.get(f"{API}/queue/jobs", headers=alice,
                  params={"created_after": "2999-01-01T00:00:00"}).json()
    assert later["total"] == 0
    earlier = c.get(f"{API}/queue/jobs", headers=alice,
                    params={"created_before": "2999-01-01T00:00:00Z"}).json()
    assert earlier["total"] == 2
    page = c.get(f"{API}/queue/jobs?limit=1&offset=1", headers=alice).json()
    assert page["total"] == 2 and len(page["items"]) == 1
