"""Safe defaults, attacked through the REST API: what anonymous callers and other users
may see of the health check, the queue and other origins' requests."""

from __future__ import annotations

from tests.api.conftest import ApiEnv

API = "/api/agentic"


def test_health_hides_details_from_anonymous_callers(sqlite_db_url):
    """Anonymous /health says only ok/not-ok: no URL, password or raw error, even when Redis
    is down with a password in its URL; an admin gets the details, the password hidden."""
    env = ApiEnv(sqlite_db_url, "redis://:s3cret-pw@127.0.0.1:1/0")
    _, admin = env.user("root", admin=True)
    _, user = env.user("alice")
    for headers in ({}, user, {"Authorization": "Bearer not-a-token"}):
        resp = env.client.get(f"{API}/health", headers=headers)
        assert resp.status_code == 503
        assert resp.json() == {"status": "degraded"}
    resp = env.client.get(f"{API}/health", headers=admin)
    assert resp.status_code == 503
    body = resp.json()
    assert body["failed"] == ["redis"] and body["redis"]["ok"] is False
    assert body["redis"]["url"] == "redis://:***@127.0.0.1:1/0"
    assert "127.0.0.1:1" in body["redis"]["error"]
    assert "s3cret-pw" not in resp.text


def test_cors_allows_only_the_frontend_origin(env: ApiEnv):
    """A page on another origin gets no CORS grant (preflight or simple request); the
    configured frontend origin does."""
    _, user = env.user("alice")
    evil, own = "https://evil.example", env.settings.frontend_origins[0]
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    resp = env.client.options(f"{API}/workflows", headers={"Origin": evil, **preflight})
    assert resp.status_code == 400
    assert "access-control-allow-origin" not in resp.headers
    resp = env.client.get(f"{API}/workflows", headers={"Origin": evil, **user})
    assert "access-control-allow-origin" not in resp.headers
    resp = env.client.options(f"{API}/workflows", headers={"Origin": own, **preflight})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == own
    resp = env.client.get(f"{API}/workflows", headers={"Origin": own, **user})
    assert resp.headers["access-control-allow-origin"] == own
    assert own == f"http://localhost:{env.settings.frontend_port}"


def test_webhook_secret_is_shown_once_then_rotate_only(env: ApiEnv):
    """The secret comes back at creation only; no listing or detail route returns it; POST
    rotate returns a new one once (the old one is refused, the new one accepted); another
    user cannot rotate it, and a non-webhook job has nothing to rotate."""
    import time

    from agentic_app.domain.webhook_signing import SIGNATURE_HEADER, signature_header

    _, alice = env.user("alice")
    _, mallory = env.user("mallory")
    wf = env.workflow(alice, definition={"nodes": [
        {"id": "hook", "type": "webhook_trigger", "params": {}}]})
    created = env.schedule(alice, wf, "webhook")
    first, job_id = created["webhook_secret"], created["id"]
    assert first.startswith("whsec_")
    for path in (f"/scheduler/jobs/{job_id}", "/scheduler/jobs",
                 f"/scheduler/jobs/{job_id}/history"):
        resp = env.client.get(f"{API}{path}", headers=alice)
        assert resp.status_code == 200 and first not in resp.text, path
    rotate = f"{API}/scheduler/jobs/{job_id}/webhook-secret/rotate"
    assert env.client.get(rotate, headers=alice).status_code == 405
    assert env.client.post(rotate, headers=mallory).status_code == 404
    resp = env.client.post(rotate, headers=alice)
    assert resp.status_code == 200
    second = resp.json()["webhook_secret"]
    assert second.startswith("whsec_") and second != first
    for path in (f"/scheduler/jobs/{job_id}", "/scheduler/jobs"):
        assert second not in env.client.get(f"{API}{path}", headers=alice).text

    def deliver(secret: str) -> int:
        body = b'{"n": 1}'
        header = signature_header(secret, int(time.time()), body)
        return env.client.post(created["webhook_path"], content=body,
                               headers={SIGNATURE_HEADER: header}).status_code

    assert deliver(first) == 401
    assert deliver(second) == 202
    cron = env.schedule(alice, env.workflow(alice), "cron")
    resp = env.client.post(f"{API}/scheduler/jobs/{cron['id']}/webhook-secret/rotate",
                           headers=alice)
    assert resp.status_code == 409


def test_queue_status_shows_other_users_jobs_to_admins_only(env: ApiEnv):
    """/queue/status: a worker busy with Alice's job names it to Alice and to an admin, not
    to Bob; Bob's counts hold none of Alice's jobs, the admin's hold everyone's."""
    import redis
    from rq import Queue, Worker

    _, alice = env.user("alice")
    _, bob = env.user("bob")
    _, admin = env.user("root", admin=True)
    job = env.run(alice, env.workflow(alice))
    rq_id = env.services.queue.get(env.services.users.by_name("alice"), job["id"]).rq_job_id
    assert rq_id
    conn = redis.Redis.from_url(env.redis_url)
    worker = Worker([Queue("default", connection=conn)], connection=conn, name="busy-worker")
    worker.register_birth()
    try:
        worker.set_current_job_id(rq_id)

        def status(headers: dict[str, str]) -> dict:
            resp = env.client.get(f"{API}/queue/status", headers=headers)
            assert resp.status_code == 200, resp.text
            return resp.json()

        def current(body: dict) -> str | None:
            return {w["name"]: w["current_job_id"] for w in body["workers"]}["busy-worker"]

        assert current(status(alice)) == rq_id and current(status(admin)) == rq_id
        seen_by_bob = status(bob)
        assert current(seen_by_bob) is None and rq_id not in str(seen_by_bob)
        assert set(seen_by_bob["counts"].values()) == {0}
        assert status(alice)["counts"]["pending"] == 1
        assert status(admin)["counts"]["pending"] == 1
    finally:
        worker.register_death()
        conn.close()


def test_health_answers_503_to_a_token_while_the_database_is_down(redis_url):
    """Database down: a caller sending a bearer token still gets a plain 503 ``degraded``
    (no 500, no details, no URL)."""
    env = ApiEnv("postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/none", redis_url)
    resp = env.client.get(f"{API}/health", headers={"Authorization": "Bearer agt_whatever"})
    assert resp.status_code == 503
    assert resp.json() == {"status": "degraded"}
