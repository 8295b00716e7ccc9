"""The production commands start and answer: `reflex run --env prod` (one port),
`--backend-only` and `--frontend-only` (dev and prod), `reflex export --frontend-only`, and
the backend in production mode runs no job workers or scheduler of its own - those are
`python -m agentic_app worker` / `scheduler`, started as their own processes."""

from __future__ import annotations

import re
import time

import httpx
import pytest
import redis as redis_lib
from rq import Worker

from agentic_app.engine.scheduler.service import LEADER_KEY
from agentic_app.services.runtime import RUNTIME_LEASE_KEY
from agentic_app.settings import REPO_ROOT
from tests.conftest import _reset_postgres, _with_db
from tests.process_group import Group, base_env, free_port

pytestmark = [pytest.mark.slow]

SECRET = "s" * 40
"""A production SECRET_KEY for the started processes (test only)."""
STATE_DB = 14
"""Redis logical database holding Reflex's state in these tests (flushed first)."""
START_S = 240
"""Longest a command may take to answer (a production build included)."""


def _prod_env(db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    # BIND_HOST on loopback: the dev frontend command written into reflex.lock stays as committed
    return base_env(AGENTIC_MODE="production", SECRET_KEY=SECRET, DATABASE_URL=db_url,
                    BIND_HOST="127.0.0.1", REDIS_URL=redis_url,
                    FRONTEND_PORT=str(free_port()), BACKEND_PORT=str(free_port()), **extra)


def _run_to_end(group: Group, timeout: float) -> int:
    try:
        return group.proc.wait(timeout=timeout)
    finally:
        group.stop()


def _html_ok(response: httpx.Response) -> bool:
    return response.status_code == 200 and "<html" in response.text.lower()


@pytest.fixture
def prod_db(postgres_server_url, redis_url):
    """The session's PostgreSQL database, emptied, then migrated by the one-shot command."""
    _reset_postgres(postgres_server_url)
    env = _prod_env(postgres_server_url, redis_url)
    assert _run_to_end(Group.agentic("migrate", "migrate", env=env), 120) == 0
    return postgres_server_url


def test_backend_only_prod_runs_no_jobs_and_cli_processes_do(prod_db, redis_url,
                                                             redis_base_url):
    """`reflex run --env prod --backend-only` in production mode with Reflex state in Redis:
    several backend workers answer /ping and the API, none of them starts RQ workers or a
    scheduler; `python -m agentic_app worker` and `scheduler` started separately register
    in Redis, and a user created by the CLI logs in through the backend's REST API."""
    state = _with_db(redis_base_url, STATE_DB)
    redis_lib.Redis.from_url(state).flushdb()
    env = _prod_env(prod_db, redis_url, REFLEX_REDIS_URL=state)
    backend = Group.reflex("prod-backend-only", "run", "--env", "prod", "--backend-only", env=env)
    groups = [backend]
    try:
        url = f"http://localhost:{env['BACKEND_PORT']}"
        backend.wait_http(f"{url}/ping", START_S, lambda r: r.status_code == 200)
        assert httpx.get(f"{url}/api/agentic/health", timeout=10).json() == {"status": "ok"}
        time.sleep(3)  # every backend worker has run its lifespan
        conn = redis_lib.Redis.from_url(redis_url)
        assert Worker.all(connection=conn) == [], backend.tail()
        assert conn.get(LEADER_KEY) is None and conn.get(RUNTIME_LEASE_KEY) is None, \
            backend.tail()
        assert len(backend.pids()) >= 3, backend.tail()  # granian + several workers

        assert _run_to_end(Group.agentic("create-user", "create-user", "ops", "--password",
                                         "Prod-pass-123456", env=env), 60) == 0
        groups.append(Group.agentic("worker", "worker", "--processes", "1", env=env))
        groups.append(Group.agentic("scheduler", "scheduler", env=env))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (Worker.all(connection=conn)
                                                   and conn.get(LEADER_KEY)):
            time.sleep(0.5)
        assert len(Worker.all(connection=conn)) == 1, groups[1].tail()
        assert conn.get(LEADER_KEY) is not None, groups[2].tail()
        login = httpx.post(f"{url}/api/agentic/auth/login", timeout=10,
                           json={"username": "ops", "password": "Prod-pass-123456"})
        assert login.status_code == 200, login.text
    finally:
        for group in groups:
            group.stop()
    assert all(g.pids() == [] for g in groups)


def test_backend_only_dev_answers(sqlite_db_url, redis_url):
    """`reflex run --backend-only` (dev) in production mode listens on BACKEND_PORT only."""
    env = _prod_env(sqlite_db_url, redis_url)
    backend = Group.reflex("dev-backend-only", "run", "--backend-only", env=env)
    try:
        backend.wait_http(f"http://localhost:{env['BACKEND_PORT']}/ping", START_S,
                          lambda r: r.status_code == 200)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://localhost:{env['FRONTEND_PORT']}/", timeout=3)
    finally:
        backend.stop()


@pytest.mark.parametrize("prod", [False, True], ids=["dev", "prod"])
def test_frontend_only_serves_pages_pointing_at_the_backend(prod, sqlite_db_url, redis_url):
    """`reflex run [--env prod] --frontend-only`: the login page is served on FRONTEND_PORT
    and (prod) the built bundle reaches the API at API_BASE_URL."""
    env = _prod_env(sqlite_db_url, redis_url)
    env["API_BASE_URL"] = api = f"http://localhost:{env['BACKEND_PORT']}"
    args = ["run", *(["--env", "prod"] if prod else []), "--frontend-only"]
    front = Group.reflex(f"{'prod' if prod else 'dev'}-frontend-only", *args, env=env)
    try:
        front.wait_http(f"http://localhost:{env['FRONTEND_PORT']}/login", START_S, _html_ok)
        if prod:
            assets = (REPO_ROOT / ".web/build/client/assets").glob("reflex-env-*.js")
            assert any(f"{api}/_event".replace("http", "ws", 1) in p.read_text()
                       for p in assets)
    finally:
        front.stop()


def test_prod_full_stack_serves_both_on_one_port(sqlite_db_url, redis_url):
    """`reflex run --env prod` with the default, different FRONTEND_PORT and BACKEND_PORT
    serves the built frontend and the backend on FRONTEND_PORT."""
    env = _prod_env(sqlite_db_url, redis_url)
    app = Group.reflex("prod-full-stack", "run", "--env", "prod", env=env)
    try:
        url = f"http://localhost:{env['FRONTEND_PORT']}"
        app.wait_http(f"{url}/api/agentic/health", START_S, lambda r: r.status_code == 200)
        assert _html_ok(httpx.get(f"{url}/login", timeout=10, follow_redirects=True))
        assert httpx.get(f"{url}/ping", timeout=10).json() == "pong"
    finally:
        app.stop()


def test_export_frontend_for_a_static_server(sqlite_db_url, redis_url):
    """`reflex export --frontend-only --no-zip` builds static files (pages, a SPA fallback for
    the dynamic routes) that reach the API at the public API_BASE_URL."""
    env = _prod_env(sqlite_db_url, redis_url, API_BASE_URL="https://trading.example.test")
    export = Group.reflex("export-frontend", "export", "--frontend-only", "--no-zip", env=env)
    assert _run_to_end(export, START_S) == 0, export.tail()
    client = REPO_ROOT / ".web/build/client"
    for name in ("index.html", "login.html", "__spa-fallback.html", "404.html"):
        assert (client / name).is_file(), name
    bundle = "".join(p.read_text() for p in (client / "assets").glob("reflex-env-*.js"))
    assert re.search(r"wss://trading\.example\.test/_event", bundle), bundle[:500]
