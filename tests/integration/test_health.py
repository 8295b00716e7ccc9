"""GET /api/agentic/health: 200 when database and Redis answer, 503 naming what failed."""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient

from agentic_app.api.app import create_api
from agentic_app.services.app import AppServices
from agentic_app.settings import load_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(db_url: str, redis_url: str, *, admin: bool = True) -> TestClient:
    """A client on the API; with ``admin`` its requests carry an admin's token (admins see
    the details; that needs the database up)."""
    settings = load_settings(database_url=db_url, redis_url=redis_url)
    services = AppServices(settings, redis_url=redis_url)
    client = TestClient(create_api(services))
    if admin:
        actor = services.users.create(username="health-admin", password="correct horse",
                                      is_admin=True)
        _, token = services.tokens.create(actor, name="health")
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_health_up(sqlite_db_url, redis_url):
    """Both dependencies up: 200 and both reported ok."""
    resp = _client(sqlite_db_url, redis_url).get("/api/agentic/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["redis"]["ok"]
    assert body["failed"] == []


def test_health_redis_unreachable(sqlite_db_url):
    """Redis unreachable: 503, and the body says redis failed while the database is fine."""
    resp = _client(sqlite_db_url, f"redis://127.0.0.1:{_closed_port()}/0").get(
        "/api/agentic/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["failed"] == ["redis"]
    assert body["database"]["ok"] is True and body["redis"]["ok"] is False


def test_health_database_unreachable(redis_url):
    """Database unreachable: 503 and degraded (no admin can sign in without the database,
    so the caller is anonymous and gets no details)."""
    bad = f"postgresql+psycopg://nobody:pw@127.0.0.1:{_closed_port()}/none"
    resp = _client(bad, redis_url, admin=False).get("/api/agentic/health")
    assert resp.status_code == 503
    assert resp.json() == {"status": "degraded"}
