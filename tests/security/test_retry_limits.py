"""Manual and bulk retry through the REST API hold the limits of any run: each retry counts
against the daily cap (429 naming it), a retry of a job whose workflow is deactivated or
whose scheduled job is paused or deleted is a 409 saying why, and the retried execution keeps
the definition it was created with although the user edited the workflow since."""

from __future__ import annotations

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, WorkflowExecution
from tests.api.conftest import API, CRON_TEMPLATE, ApiEnv


def _cancelled_run(env: ApiEnv, headers: dict, workflow_id: int) -> dict:
    """Run the workflow now and cancel the pending job (no worker takes it here)."""
    job = env.run(headers, workflow_id)
    resp = env.client.post(f"{API}/queue/jobs/{job['id']}/cancel", headers=headers)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled", resp.text
    return job


def _retry(env: ApiEnv, headers: dict, job_id: int):
    return env.client.post(f"{API}/queue/jobs/{job_id}/retry", headers=headers)


def _cancel(env: ApiEnv, headers: dict, job_id: int) -> None:
    assert env.client.post(f"{API}/queue/jobs/{job_id}/cancel",
                           headers=headers).status_code == 200


def test_every_retry_counts_against_the_daily_cap(sqlite_db_url, redis_url):
    """Cap 3: one run + two retries of it use the day; the third retry (single or bulk) is
    refused with 429 naming max_executions_per_day, and so is a new run."""
    env = ApiEnv(sqlite_db_url, redis_url, limits={"max_executions_per_day": 3})
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    job = _cancelled_run(env, alice, wf)
    for _ in range(2):
        assert _retry(env, alice, job["id"]).status_code == 202
        _cancel(env, alice, job["id"])
    refused = _retry(env, alice, job["id"])
    assert refused.status_code == 429, refused.text
    assert refused.json()["limit"] == "max_executions_per_day"
    bulk = env.client.post(f"{API}/queue/jobs/bulk-retry", headers=alice,
                           json={"job_ids": [job["id"]]})
    assert bulk.status_code == 200
    assert bulk.json()["results"][0]["outcome"] == "limit_exceeded"
    assert env.client.get(f"{API}/queue/jobs/{job['id']}", headers=alice
                          ).json()["status"] == "cancelled"
    assert env.client.post(f"{API}/workflows/{wf}/run", headers=alice).status_code == 429


def test_retry_waits_for_a_concurrency_slot(sqlite_db_url, redis_url):
    """Concurrency 1: while another run holds the user's slot, a retried job stays pending
    and undispatched (no RQ job id) instead of jumping the limit."""
    env = ApiEnv(sqlite_db_url, redis_url, limits={"max_concurrent_per_user": 1})
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    job = _cancelled_run(env, alice, wf)
    holder = env.run(alice, wf)
    retried = _retry(env, alice, job["id"])
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    with session_scope(env.db_url) as s:
        assert s.get(JobQueueEntry, holder["id"]).rq_job_id is not None  # holds the slot
        assert s.get(JobQueueEntry, job["id"]).rq_job_id is None  # waits for it


def test_retry_refused_for_paused_or_deleted_schedule_and_deactivated_workflow(env):
    """409 naming why (paused / deleted scheduled job, deactivated workflow); nothing changes,
    and the retry goes through once the schedule is resumed."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    schedule = env.schedule(alice, wf, "cron")
    ran = env.client.post(f"{API}/scheduler/jobs/{schedule['id']}/run", headers=alice)
    assert ran.status_code == 202, ran.text
    job = ran.json()
    _cancel(env, alice, job["id"])
    env.client.post(f"{API}/scheduler/jobs/{schedule['id']}/toggle", headers=alice)
    paused = _retry(env, alice, job["id"])
    assert paused.status_code == 409, paused.text
    assert paused.json()["field"] == "scheduled_job_id" and "paused" in paused.json()["detail"]
    bulk = env.client.post(f"{API}/queue/jobs/bulk-retry", headers=alice,
                           json={"job_ids": [job["id"]]}).json()["results"][0]
    assert bulk["outcome"] == "not_retryable" and "paused" in bulk["reason"]
    assert env.client.get(f"{API}/queue/jobs/{job['id']}", headers=alice
                          ).json()["status"] == "cancelled"
    env.client.post(f"{API}/scheduler/jobs/{schedule['id']}/toggle", headers=alice)
    assert _retry(env, alice, job["id"]).status_code == 202
    _cancel(env, alice, job["id"])
    assert env.client.delete(f"{API}/scheduler/jobs/{schedule['id']}",
                             headers=alice).status_code == 204
    deleted = _retry(env, alice, job["id"])
    assert deleted.status_code == 409 and "was deleted" in deleted.json()["detail"]

    manual = _cancelled_run(env, alice, wf)
    off = env.client.put(f"{API}/workflows/{wf}", headers=alice, json={"is_active": False})
    assert off.status_code == 200, off.text
    deactivated = _retry(env, alice, manual["id"])
    assert deactivated.status_code == 409
    assert deactivated.json()["field"] == "workflow_id"
    assert "deactivated" in deactivated.json()["detail"]


def test_execution_keeps_the_definition_it_was_created_with(env):
    """An edit after the run bumps the workflow's version; the execution keeps the old
    definition and version, and a retry does not replace them."""
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    before = env.client.get(f"{API}/workflows/{wf}", headers=alice).json()
    job = _cancelled_run(env, alice, wf)
    edited = dict(before["definition"])
    edited["nodes"] = [*before["definition"]["nodes"][:1],
                       {"id": "note", "type": "log", "params": {"message": "edited"}}]
    edited["edges"] = [{"from": before["definition"]["nodes"][0]["id"], "to": "note"}]
    put = env.client.put(f"{API}/workflows/{wf}", headers=alice, json={"definition": edited})
    assert put.status_code == 200, put.text
    assert put.json()["version"] == before["version"] + 1
    assert _retry(env, alice, job["id"]).status_code == 202
    with session_scope(env.db_url) as s:
        execution = s.get(WorkflowExecution, job["execution_id"])
        assert execution.definition == before["definition"]
        assert execution.workflow_version == before["version"]
