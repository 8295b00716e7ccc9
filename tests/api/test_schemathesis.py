"""Property-based run of schemathesis against the app's own OpenAPI spec: for every
operation, generated requests (fixed seed, bounded examples, the bearer token of a user and,
in a second run, of an admin) never get a 5xx, and every response matches its documented
status code, content type and schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentic_app.api.app import create_api
from agentic_app.services.app import Actor, AppServices
from agentic_app.settings import load_settings
from tests.api.conftest import API, ApiEnv

MAX_EXAMPLES = 20
"""Examples generated per operation."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
"""What every response is checked for."""


# The schema is loaded at collection time from an app whose state each test points at its
# own database and Redis (schemathesis' lazy ``from_fixture`` loader does not run on
# pytest 9: it sets ``Function._nodeid``, which pytest 9 no longer has).
APP = create_api(AppServices(load_settings(database_url="sqlite://"), redis_url=lambda: None))
schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", APP)


@pytest.fixture(params=["user", "admin"])
def world(request, sqlite_db_url, redis_url):
    """APP on a fresh database where a user (or an admin: admin-only routes and details)
    owns a workflow, a scheduled job and a job."""
    env = ApiEnv(sqlite_db_url, redis_url, api=APP)  # APP.state.services = env.services
    user_id, headers = env.user("alice", admin=request.param == "admin")
    wf = env.workflow(headers)
    env.schedule(headers, wf, "cron", cron_expression="0 9 * * *")
    env.run(headers, wf)
    assert APP.state.services is env.services
    return env, user_id


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, world):
    """No generated request gets a 5xx or a response outside the documented schema."""
    env, user_id = world
    _, token = env.services.tokens.create(Actor(id=user_id), name="schemathesis")
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
