"""The local runtime's lease (services/runtime.py) against a real Redis: one backend process
runs the supervisor; it keeps it across a Redis that lost the key, hands over when it loses
the lease, and a waiting process takes over when the holder is gone."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from agentic_app.engine.leader import RedisLease
from agentic_app.services.runtime import RUNTIME_LEASE_KEY, LocalRuntime
from agentic_app.settings import load_settings


class FakeRuntime(LocalRuntime):
    """A LocalRuntime whose 'supervisor' is a sleeping process (no workers started)."""

    def _spawn_supervisor(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


@pytest.fixture
def make_runtime(redis_url, tmp_path):
    """Build runtimes on the test Redis; all stopped at teardown."""
    made: list[FakeRuntime] = []

    def make() -> FakeRuntime:
        settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
                                 REDIS_URL=redis_url)
        runtime = FakeRuntime(settings, redis_url=redis_url)
        runtime.lease = RedisLease(redis.Redis.from_url(redis_url), RUNTIME_LEASE_KEY,
                                   ttl_ms=15_000)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.stop()


def _running(runtime: LocalRuntime) -> bool:
    return runtime.supervisor is not None and runtime.supervisor.poll() is None


def test_one_holder_keeps_running_and_hands_over(make_runtime, redis_url) -> None:
    """Two backend processes: one supervisor; kept when the key vanished (even if the other
    process looks first), restarted after any exit, stopped when the lease went to another
    process, taken over once the lease has been free for two rounds."""
    client = redis.Redis.from_url(redis_url)
    a, b = make_runtime(), make_runtime()
    a.check_lease(eager=True)
    b.check_lease(eager=True)
    assert _running(a) and b.supervisor is None
    first = a.supervisor.pid

    client.delete(RUNTIME_LEASE_KEY)  # Redis restarted empty
    b.check_lease()  # free for one round only: the holder gets the first chance
    a.check_lease()
    b.check_lease()
    assert _running(a) and a.supervisor.pid == first and b.supervisor is None

    for how in ("kill", "terminate"):  # crashed, or stopped on its own
        getattr(a.supervisor, how)()
        a.supervisor.wait()
        a.check_lease()
        assert _running(a) and a.supervisor.pid != first
        first = a.supervisor.pid

    client.set(RUNTIME_LEASE_KEY, "someone-else", px=15_000)  # lease lost (long pause)
    old = a.supervisor
    a.check_lease()
    assert a.supervisor is None and old.poll() is not None  # stopped, no second pool

    client.delete(RUNTIME_LEASE_KEY)  # that holder died: its lease expired
    b.check_lease()
    assert b.supervisor is None
    b.check_lease()
    a.check_lease()
    assert _running(b) and a.supervisor is None


def test_stopping_releases_the_lease_for_the_next(make_runtime, redis_url) -> None:
    """A stopped runtime stops its supervisor and frees the lease for another."""
    a, b = make_runtime(), make_runtime()
    a.check_lease(eager=True)
    proc = a.supervisor
    a.stop()
    assert proc.poll() is not None
    assert redis.Redis.from_url(redis_url).get(RUNTIME_LEASE_KEY) is None
    b.check_lease()
    b.check_lease()
    assert _running(b)
    a.check_lease(eager=True)  # a stopped runtime does nothing any more
    assert a.supervisor is proc
