"""rq-dashboard mounted at /rq: refused without an admin session, served with one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agentic_app.api.app import create_api
from agentic_app.services.app import SESSION_COOKIE, AppServices
from agentic_app.settings import load_settings


@pytest.fixture
def api(sqlite_db_url, redis_url):
    """(TestClient of the API, a valid token) on a migrated SQLite DB and the test Redis."""
    settings = load_settings(database_url=sqlite_db_url, redis_url=redis_url)
    app = AppServices(settings, redis_url=redis_url)
    user = app.users.create(username="ann", password="not-a-secret-42", is_admin=True)
    _, token = app.tokens.create(user, name="t")
    client = TestClient(create_api(app), follow_redirects=False)
    return client, token, app


def test_page_without_session_redirects_to_login(api):
    """A browser page load without a session is sent to the frontend's /login."""
    client, _, app = api
    settings = app.settings
    resp = client.get("/rq/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert resp.status_code == 303
    assert resp.headers["location"].startswith(
        f"http://localhost:{settings.frontend_port}/login?next=")


def test_json_without_session_is_401(api):
    """The dashboard's JSON polling without (or with a bad) token gets 401."""
    client, _, _ = api
    assert client.get("/rq/0/data/queues.json").status_code == 401
    bad = client.get("/rq/0/data/queues.json", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_session_cookie_opens_the_dashboard(api):
    """With the session cookie the dashboard page renders (200, its HTML)."""
    client, token, _ = api
    client.cookies.set(SESSION_COOKIE, token)
    resp = client.get("/rq/", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    assert "RQ Dashboard" in resp.text or "rq-dashboard" in resp.text.lower()
    assert "/rq/static/" in resp.text  # assets resolve under the mount point


def test_bearer_token_reads_queue_data_until_revoked(api, redis_url):
    """A Bearer token reads the queues JSON from the resolved Redis; revoked, it is refused."""
    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    client, token, app = api
    Queue("dashboard-probe", connection=Redis.from_url(redis_url),
          serializer=JSONSerializer).enqueue("builtins.len", [1])
    headers = {"Authorization": f"Bearer {token}"}
    resp = client.get("/rq/0/data/queues.json", headers=headers)
    assert resp.status_code == 200
    queues = {q["name"]: q["count"] for q in resp.json()["queues"]}
    assert queues["dashboard-probe"] == 1  # a queue no worker serves
    assert app.auth.logout(token)
    assert client.get("/rq/0/data/queues.json", headers=headers).status_code == 401


def test_non_admin_is_refused(api):
    """A valid session of a user who is not an admin gets 403: the dashboard shows all jobs."""
    client, _, app = api
    _, token = app.tokens.create(app.users.create(username="bob", password="not-a-secret-42"),
                                 name="t")
    resp = client.get("/rq/0/data/queues.json", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403
