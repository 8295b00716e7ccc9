"""The per-user schedule cap holds under a race: many creates sent at the same moment, each
from its own REST client and thread (so each on its own database connection), leave exactly
the cap stored; the others are 409 naming the limit. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.conftest import API, CRON_TEMPLATE, ApiEnv

CAP = 5
"""SCHEDULES__MAX_PER_USER of the test."""
CREATES = 24
"""Creates sent at once."""


def test_concurrent_creates_never_pass_the_cap(db_url, redis_url):
    """CREATES simultaneous POST /scheduler/jobs of one user with cap CAP: exactly CAP are
    201 and stored, every other one is 409 with field schedules.max_per_user."""
    env = ApiEnv(db_url, redis_url, schedules={"max_per_user": CAP})
    _, alice = env.user("alice")
    wf = env.workflow(alice, CRON_TEMPLATE)
    clients = [TestClient(env.app) for _ in range(CREATES)]
    start = threading.Barrier(CREATES, timeout=60)

    def create(client: TestClient) -> tuple[int, dict]:
        start.wait()
        resp = client.post(f"{API}/scheduler/jobs", headers=alice, json={
            "workflow_id": wf, "trigger_type": "cron",
            "trigger_config": {"overlap_policy": "skip"}})
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(CREATES) as pool:
        answers = list(pool.map(create, clients))
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * CAP + [409] * (CREATES - CAP), answers
    assert all(body["field"] == "schedules.max_per_user" for code, body in answers
               if code == 409)
    listed = env.client.get(f"{API}/scheduler/jobs", headers=alice).json()
    assert listed["total"] == CAP
