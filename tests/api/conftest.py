"""Fixtures of the API tests: the app on a real database and Redis, users and their tokens."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agentic_app.api.app import create_api
from agentic_app.domain.templates import get_template
from agentic_app.services.app import AppServices
from agentic_app.settings import Settings, load_settings

API = "/api/agentic"
"""Prefix of every route."""
PASSWORD = "correct horse"
"""Password of every test user."""
CRON_TEMPLATE = "RSI Oversold Strategy"
PRICE_TEMPLATE = "EURUSD Price Alert"
INDICATOR_TEMPLATE = "RSI Signal Auto-trade"


class ApiEnv:
    """A TestClient on ``create_api`` plus helpers to make users, workflows and jobs."""

    def __init__(self, db_url: str, redis_url: str, *, api: FastAPI | None = None,
                 **overrides: Any) -> None:
        """``api``: an app already built by ``create_api`` to point at these services
        (building one costs about a second) instead of a new one."""
        self.db_url = db_url
        self.redis_url = redis_url
        self.settings: Settings = load_settings(database_url=db_url, redis_url=redis_url,
                                                **overrides)
        self.services = AppServices(self.settings, redis_url=redis_url)
        if api is None:
            api = create_api(self.services)
        else:
            api.state.services = self.services
        self.app = api
        self.client = TestClient(self.app)

    def user(self, name: str, *, admin: bool = False) -> tuple[int, dict[str, str]]:
        """Create a user; (id, Authorization headers of an API token of theirs)."""
        actor = self.services.users.create(username=name, password=PASSWORD, is_admin=admin)
        _, token = self.services.tokens.create(actor, name="test")
        return actor.id, {"Authorization": f"Bearer {token}"}

    def workflow(self, headers: dict[str, str], template: str = CRON_TEMPLATE,
                 definition: dict | None = None) -> int:
        """Create a workflow through the API (a template's definition by default); its id."""
        body = {"name": template, "definition": definition
                or copy.deepcopy(get_template(template)["definition"])}
        resp = self.client.post(f"{API}/workflows", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def schedule(self, headers: dict[str, str], workflow_id: int, trigger_type: str,
                 **config: Any) -> dict:
        """Create a scheduled job through the API; its JSON."""
        resp = self.client.post(f"{API}/scheduler/jobs", headers=headers, json={
            "workflow_id": workflow_id, "trigger_type": trigger_type, "trigger_config": config})
        assert resp.status_code == 201, resp.text
        return resp.json()

    def run(self, headers: dict[str, str], workflow_id: int) -> dict:
        """Run a workflow now through the API; the job JSON."""
        resp = self.client.post(f"{API}/workflows/{workflow_id}/run", headers=headers)
        assert resp.status_code == 202, resp.text
        return resp.json()


API_REDIS_DB = 14
"""Redis database of these tests: queue tests elsewhere run RQ workers on db 15, which would
take the jobs these tests enqueue (and expect to stay pending) when suites run in parallel."""


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """The API tests' Redis database, flushed before the test (overrides the shared one)."""
    import redis

    from tests.conftest import _with_db

    url = _with_db(redis_base_url, API_REDIS_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def env(sqlite_db_url: str, redis_url: str) -> ApiEnv:
    """The API on SQLite and the test Redis."""
    return ApiEnv(sqlite_db_url, redis_url)


@pytest.fixture
def any_env(db_url: str, redis_url: str) -> ApiEnv:
    """The API on SQLite and on PostgreSQL (one test run each)."""
    return ApiEnv(db_url, redis_url)
