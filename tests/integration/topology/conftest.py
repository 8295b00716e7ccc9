"""The production topology as separate process groups: a private Redis, a fresh PostgreSQL
database on the shared server, the one-shot migration, `reflex run --env prod --backend-only`,
two `python -m agentic_app worker` and two `python -m agentic_app scheduler` groups."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
import redis as redis_lib

from agentic_app.engine.scheduler.service import LEADER_KEY
from tests.conftest import fresh_postgres_database
from tests.process_group import ARTIFACTS, Group, base_env, free_port

PASSWORD = "Topology-pass-2026"
"""Password of the test user (created with the CLI, as an operator would)."""
STEP_S = 60
"""Longest one step of the topology may take to show its effect."""


@dataclass
class Topology:
    """Handles on the started groups and a REST client logged in as the test user."""

    env: dict[str, str]
    redis: redis_lib.Redis
    backend: Group
    workers: list[Group]
    schedulers: list[Group]
    api: httpx.Client = field(init=False)

    def login(self) -> None:
        """Log in through the backend's REST API."""
        base = f"http://localhost:{self.env['BACKEND_PORT']}/api/agentic"
        r = httpx.post(f"{base}/auth/login", json={"username": "ops", "password": PASSWORD},
                       timeout=30)
        assert r.status_code == 200, r.text
        self.api = httpx.Client(base_url=base, timeout=30,
                                headers={"Authorization": f"Bearer {r.json()['access_token']}"})

    def leader(self) -> Group | None:
        """The scheduler group holding the lease (its token names the pid), if any."""
        token = self.redis.get(LEADER_KEY)
        if token is None:
            return None
        pid = int(token.decode().split(":")[2])
        return next((g for g in self.schedulers if pid in g.pids()), None)


def wait_for(predicate, timeout: float = STEP_S, what: str = "condition", poll: float = 0.3,
             details=lambda: ""):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after
    ``timeout`` seconds naming ``what`` and adding ``details()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {details()}")


@pytest.fixture(scope="module")
def fresh_postgres():
    """A new database on the shared PostgreSQL server, dropped afterwards."""
    with fresh_postgres_database("agentic_topology") as url:
        yield url


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A private redis-server (no persistence) in its own process group."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (`make setup` installs it)")
    port = free_port()
    group = Group("topology-redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no",
                                     "--dir", str(tmp_path_factory.mktemp("redis"))],
                  base_env())
    client = redis_lib.Redis(port=port)
    try:
        wait_for(lambda: _pings(client), 20, "the private Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        group.stop()


def _pings(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.RedisError:
        return False


@pytest.fixture(scope="module")
def topology(fresh_postgres, private_redis):
    """Everything started as in production; stopped (each group) at the end."""
    env = base_env(AGENTIC_MODE="production", SECRET_KEY="t" * 40, DATABASE_URL=fresh_postgres,
                   REDIS_URL=private_redis, BIND_HOST="127.0.0.1",
                   BACKEND_PORT=str(free_port()), FRONTEND_PORT=str(free_port()),
                   # the demo market (60x clock): price and indicator triggers fire in seconds
                   MARKET_FEED="demo", MARKET_SPEED="60",
                   SCHEDULER_CONFIG__CHECK_INTERVAL_SECONDS="1",
                   SCHEDULES__ALLOW_SECONDS_CRON="true")
    ARTIFACTS.mkdir(exist_ok=True)
    migrate = Group.agentic("topology-migrate", "migrate", env=env)  # the one-shot service
    assert migrate.proc.wait(timeout=120) == 0, migrate.tail()
    groups: list[Group] = []
    topo = None
    try:
        backend = Group.reflex("topology-backend", "run", "--env", "prod", "--backend-only",
                               env=env)
        workers = [Group.agentic(f"topology-worker-{n}", "worker", env=env) for n in "ab"]
        schedulers = [Group.agentic(f"topology-scheduler-{n}", "scheduler", env=env)
                      for n in "ab"]
        groups += [backend, *workers, *schedulers]
        user = Group.agentic("topology-create-user", "create-user", "ops", "--password",
                             PASSWORD, env=env)
        assert user.proc.wait(timeout=60) == 0, user.tail()
        topo = Topology(env, redis_lib.Redis.from_url(private_redis), backend, workers,
                        schedulers)
        backend.wait_http(f"http://localhost:{env['BACKEND_PORT']}/api/agentic/health", 240,
                          lambda r: r.status_code == 200)
        from rq import Worker

        wait_for(lambda: len(Worker.all(connection=topo.redis)) == 2, STEP_S, "two RQ workers")
        wait_for(topo.leader, STEP_S, "a scheduler leader")
        topo.login()
        yield topo
    finally:
        if topo is not None and hasattr(topo, "api"):
            topo.api.close()  # no idle keep-alive connection left for the backend to wait on
        # stopped together, as a host stops its services: each group still gets its
        # SIGINT, its grace time and a SIGKILL of what is left (Group.stop)
        with ThreadPoolExecutor(max_workers=len(groups) or 1) as pool:
            list(pool.map(Group.stop, groups))
