"""Fixtures of the queue tests: settings, users + workflows, and real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from agentic_app.db.engine import Database, session_scope
from agentic_app.db.models import User, Workflow
from agentic_app.settings import REPO_ROOT, Settings, load_settings

WORKER_MODULE = "tests.integration.queue.worker_entry"
"""Entry module of test workers (registers the t.record node type)."""


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def record_workflow(key: str = "t", **params: Any) -> dict:
    """A one-node workflow running the test node ``t.record``."""
    return {"nodes": [{"id": "rec", "type": "t.record", "params": {"key": key, **params}}]}


class RedisCounter:
    """Counts the commands a Redis client sends (standalone and pipelined) and its round
    trips (a standalone command or a pipeline's execute)."""

    def __init__(self, conn) -> None:
        self.commands: list[str] = []
        self.round_trips = 0
        original, original_pipeline = conn.execute_command, conn.pipeline

        def counted(*args, **kwargs):
            self.commands.append(str(args[0]))
            self.round_trips += 1
            return original(*args, **kwargs)

        def pipeline(*args, **kwargs):
            pipe = original_pipeline(*args, **kwargs)
            execute = pipe.execute

            def counted_execute(*a, **kw):
                self.commands.extend(str(c[0][0]) for c in pipe.command_stack)
                self.round_trips += 1
                return execute(*a, **kw)

            pipe.execute = counted_execute
            return pipe

        conn.execute_command = counted
        conn.pipeline = pipeline


class QueueEnv:
    """Settings + helpers shared by a test: DB, Redis, users, workflows, workers."""

    def __init__(self, db_url: str, redis_url: str, tmp_path) -> None:
        self.db_url = db_url
        self.db = Database(db_url)
        self.redis_url = redis_url
        self.tmp_path = tmp_path
        self.overrides: dict[str, Any] = {}
        self.procs: list[subprocess.Popen] = []
        import redis

        self.redis = redis.Redis.from_url(redis_url)

    def configure(self, **overrides: Any) -> Settings:
        """Set LIMITS / QUEUE_CONFIG overrides (dicts) for this process and the workers."""
        self.overrides.update(overrides)
        return self.settings

    @property
    def settings(self) -> Settings:
        """Settings pointing at the test DB and Redis, with the overrides."""
        return load_settings(DATABASE_URL=self.db_url, REDIS_URL=self.redis_url,
                             **{k.upper(): v for k, v in self.overrides.items()})

    def user(self, name: str) -> int:
        """Create a user and return its id."""
        with session_scope(self.db_url) as s:
            user = User(username=name, password_hash="x")
            s.add(user)
            s.flush()
            return user.id

    def workflow(self, user_id: int, definition: dict) -> int:
        """Create a workflow for ``user_id`` and return its id."""
        with session_scope(self.db_url) as s:
            wf = Workflow(user_id=user_id, name="wf", definition=definition)
            s.add(wf)
            s.flush()
            return wf.id

    def start_workers(self, processes: int = 1, worker_class: str = "simple",
                      wait: bool = True, slots: int = 1) -> subprocess.Popen:
        """Start a fork pool of test workers; wait until they are registered in Redis."""
        env = dict(os.environ, DATABASE_URL=self.db_url, REDIS_URL=self.redis_url,
                   PYTHONPATH=str(REPO_ROOT))
        for key, value in self.overrides.items():
            env[key.upper()] = json.dumps(value)
        log = open(self.tmp_path / f"workers-{len(self.procs)}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, "--processes", str(processes),
             "--worker-class", worker_class, "--slots", str(slots)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.procs.append(proc)
        if wait:
            before = self.worker_count()
            wait_for(lambda: self.worker_count() >= before + processes, 30,
                     message=f"{processes} workers to register")
        return proc

    def worker_count(self) -> int:
        """RQ workers registered in Redis."""
        from rq import Worker

        try:
            return len(Worker.all(connection=self.redis))
        except Exception:
            return 0

    def kill_all(self) -> None:
        """SIGKILL every worker process and its descendants (work-horses included)."""
        for proc in self.procs:
            kill_tree(proc.pid)
            proc.wait(timeout=10)
        self.procs.clear()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        victims = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for p in victims:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


QUEUE_TEST_REDIS_DB = 12
"""Redis database of the queue tests: not db 15, which other test folders flush per test
(tests of several folders may run at the same time and workers here live for seconds)."""


def _queue_env(db_url: str, redis_base_url: str, tmp_path) -> Iterator[QueueEnv]:
    import redis

    from tests.conftest import _with_db

    url = _with_db(redis_base_url, QUEUE_TEST_REDIS_DB)
    redis.Redis.from_url(url).flushdb()
    env = QueueEnv(db_url, url, tmp_path)
    yield env
    env.kill_all()


@pytest.fixture
def qenv(sqlite_db_url: str, redis_base_url: str, tmp_path) -> Iterator[QueueEnv]:
    """A queue test environment on SQLite + a flushed Redis db; workers killed at teardown."""
    yield from _queue_env(sqlite_db_url, redis_base_url, tmp_path)


@pytest.fixture
def qenv_postgres(postgres_server_url: str, redis_base_url: str, tmp_path) -> Iterator[QueueEnv]:
    """The same on a fresh PostgreSQL schema (where claim, finish and enqueue use their
    one-statement forms)."""
    from agentic_app.db.migrate import upgrade_to_head
    from tests.conftest import _reset_postgres

    _reset_postgres(postgres_server_url)
    upgrade_to_head(postgres_server_url, tmp_path)
    yield from _queue_env(postgres_server_url, redis_base_url, tmp_path)
