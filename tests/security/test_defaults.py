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
