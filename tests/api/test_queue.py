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


def _mark(env, job_id: int, status: str) -> None:
    """Set a job's status straight in the database (no worker runs in these tests)."""
    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import JobQueueEntry

    with session_scope(env.db_url) as s:
        s.get(JobQueueEntry, job_id).status = status


def _outcomes(resp) -> list[tuple[int, str]]:
    return [(r["job_id"], r["outcome"]) for r in resp.json()["results"]]


def test_bulk_cancel_reports_each_job(any_env):
    """Bulk cancel answers one result per distinct id, in order: the caller's pending jobs
    are cancelled, a finished one is not_cancellable with its reason, another user's and an
    unknown id are not_found - and the other user's job is left pending."""
    env, c = any_env, any_env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    first, second, done = (env.run(alice, env.workflow(alice)) for _ in range(3))
    _mark(env, done["id"], "completed")
    bobs = env.run(bob, env.workflow(bob))
    ids = [first["id"], bobs["id"], second["id"], 987654, done["id"], first["id"]]
    resp = c.post(f"{API}/queue/jobs/bulk-cancel", headers=alice, json={"job_ids": ids})
    assert resp.status_code == 200, resp.text
    assert _outcomes(resp) == [(first["id"], "ok"), (bobs["id"], "not_found"),
                               (second["id"], "ok"), (987654, "not_found"),
                               (done["id"], "not_cancellable")]
    body = resp.json()
    assert (body["succeeded"], body["failed"]) == (2, 3)
    results = {r["job_id"]: r for r in body["results"]}
    assert results[first["id"]]["ok"] and results[first["id"]]["job"]["status"] == "cancelled"
    assert results[done["id"]]["reason"] and results[done["id"]]["job"] is None
    assert results[bobs["id"]]["reason"] and not results[bobs["id"]]["ok"]
    assert c.get(f"{API}/queue/jobs/{bobs['id']}", headers=bob).json()["status"] == "pending"
    status = c.get(f"{API}/queue/status", headers=alice).json()["counts"]
    assert (status["cancelled"], status["completed"], status["pending"]) == (2, 1, 0)


def test_bulk_retry_reports_each_job(any_env):
    """Bulk retry re-enqueues the caller's cancelled and failed jobs (new attempt, same
    execution); a pending job is not_retryable, another user's is not_found and unchanged."""
    env, c = any_env, any_env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    wf = env.workflow(alice)
    cancelled, failed, pending = env.run(alice, wf), env.run(alice, wf), env.run(alice, wf)
    c.post(f"{API}/queue/jobs/{cancelled['id']}/cancel", headers=alice)
    _mark(env, failed["id"], "failed")
    bobs = env.run(bob, env.workflow(bob))
    c.post(f"{API}/queue/jobs/{bobs['id']}/cancel", headers=bob)
    ids = [cancelled["id"], failed["id"], pending["id"], bobs["id"]]
    resp = c.post(f"{API}/queue/jobs/bulk-retry", headers=alice, json={"job_ids": ids})
    assert resp.status_code == 200, resp.text
    assert _outcomes(resp) == [(cancelled["id"], "ok"), (failed["id"], "ok"),
                               (pending["id"], "not_retryable"), (bobs["id"], "not_found")]
    results = resp.json()["results"]
    for result, original in zip(results[:2], (cancelled, failed), strict=True):
        assert result["job"]["status"] == "pending" and result["job"]["attempt"] == 2
        assert result["job"]["execution_id"] == original["execution_id"]
    assert "pending" in results[2]["reason"]
    bob_job = c.get(f"{API}/queue/jobs/{bobs['id']}", headers=bob).json()
    assert (bob_job["status"], bob_job["attempt"]) == ("cancelled", 1)


def test_bulk_request_is_validated(env):
    """An empty list, more than 500 ids, or an id out of range is a 422 naming job_ids;
    nothing changes."""
    c = env.client
    _, alice = env.user("alice")
    job = env.run(alice, env.workflow(alice))
    for body in ({"job_ids": []}, {"job_ids": list(range(1, 502))}, {"job_ids": [0]}, {}):
        resp = c.post(f"{API}/queue/jobs/bulk-cancel", headers=alice, json=body)
        assert resp.status_code == 422, body
        assert resp.json()["field"].startswith("job_ids"), resp.json()
    assert c.get(f"{API}/queue/jobs/{job['id']}", headers=alice).json()["status"] == "pending"


def test_throughput_per_minute_is_the_users_own(env):
    """The per-minute series counts the caller's finished jobs only (oldest minute first)."""
    from agentic_app.db.engine import session_scope
    from agentic_app.db.models import JobQueueEntry, utcnow

    c = env.client
    _, alice = env.user("alice")
    _, bob = env.user("bob")
    done, failed = env.run(alice, env.workflow(alice)), env.run(alice, env.workflow(alice))
    with session_scope(env.db_url) as s:
        for job_id, status in ((done["id"], "completed"), (failed["id"], "failed")):
            row = s.get(JobQueueEntry, job_id)
            row.status, row.completed_at = status, utcnow()
    series = c.get(f"{API}/queue/throughput?minutes=5", headers=alice).json()
    assert len(series) == 5
    assert (series[-1]["completed"], series[-1]["failed"]) == (1, 1)
    assert series[-1]["failure_rate"] == 50.0
    assert sum(m["completed"] for m in c.get(f"{API}/queue/throughput",
                                             headers=bob).json()) == 0
