"""The RQ dashboard over HTTP: admins only; requeue and delete only on POST with the CSRF
token of the caller's own session; a GET that would mutate does nothing."""

from __future__ import annotations

from redis import Redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from agentic_app.services.app import SESSION_COOKIE
from tests.api.conftest import ApiEnv


def _failed_job(env: ApiEnv) -> tuple[Queue, str]:
    """A job in the ``probe`` queue's failed registry (a real RQ worker ran and failed it)."""
    conn = Redis.from_url(env.redis_url)
    queue = Queue("probe", connection=conn, serializer=JSONSerializer)
    job = queue.enqueue("builtins.int", "not a number")
    SimpleWorker([queue], connection=conn, serializer=JSONSerializer).work(burst=True)
    assert job.id in queue.failed_job_registry.get_job_ids()
    return queue, job.id


def test_dashboard_mutations_need_post_and_the_sessions_csrf_token(env: ApiEnv):
    """GET requeue is 405; POST requeue/delete without the token, or with another session's,
    is 403; every refusal leaves the failed job where it was; the session's own token
    (the cookie the dashboard sets, sent back as X-CSRFToken) requeues it."""
    _, admin = env.user("root", admin=True)
    _, other_admin = env.user("root2", admin=True)
    _, user = env.user("alice")
    queue, job_id = _failed_job(env)
    client = env.client

    def token_of(headers: dict[str, str]) -> str:
        resp = client.get("/rq/0/data/queues.json", headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.cookies["_csrf_token"]

    mine, theirs = token_of(admin), token_of(other_admin)
    assert mine != theirs
    client.cookies.clear()
    assert client.get("/rq/0/data/queues.json", headers=user).status_code == 403
    assert client.post(f"/rq/requeue/{queue.name}", headers={
        **user, "X-CSRFToken": mine}).status_code == 403
    assert client.get(f"/rq/requeue/{queue.name}", headers=admin).status_code == 405
    for path in (f"/rq/requeue/{queue.name}", f"/rq/job/{job_id}/requeue",
                 f"/rq/job/{job_id}/delete"):
        assert client.post(path, headers=admin).status_code == 403, path
        assert client.post(path, headers={**admin, "X-CSRFToken": theirs}).status_code == 403
    assert queue.failed_job_registry.get_job_ids() == [job_id]
    resp = client.post(f"/rq/requeue/{queue.name}", headers={**admin, "X-CSRFToken": mine})
    assert resp.status_code == 200, resp.text
    assert queue.failed_job_registry.get_job_ids() == [] and job_id in queue.job_ids


def test_browser_session_gets_the_csrf_cookie_its_scripts_send(env: ApiEnv):
    """A page load with the session cookie sets ``_csrf_token`` (SameSite=Strict) whose
    value, sent as X-CSRFToken with the same cookie session, is accepted."""
    env.user("root", admin=True)
    actor = env.services.users.by_name("root")
    _, session = env.services.tokens.create(actor, name="browser")
    queue, job_id = _failed_job(env)
    env.client.cookies.set(SESSION_COOKIE, session)
    page = env.client.get("/rq/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    token = page.cookies["_csrf_token"]
    assert env.client.post(f"/rq/job/{job_id}/delete").status_code == 403
    resp = env.client.post(f"/rq/job/{job_id}/delete", headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.text
    assert queue.failed_job_registry.get_job_ids() == []
