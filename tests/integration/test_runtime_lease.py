"""The local runtime's lease (services/runtime.py) against a real Redis: one backend process
runs the supervisor; it keeps it across a Redis that lost the key, hands over when it loses
the lease, and a waiting process takes over when the holder is gone - never two pools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import redis
from rq import Worker

from agentic_app.engine.runtime.supervisor import child_preexec
from agentic_app.services.runtime import RUNTIME_LEASE_KEY, LocalRuntime
from agentic_app.settings import REPO_ROOT, load_settings


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
        runtime.open_lease()
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


class PoolRuntime(LocalRuntime):
    """A LocalRuntime whose 'supervisor' is a real pool of two RQ workers (fork pool), with a
    short lease so that the test runs in seconds."""

    def _spawn_supervisor(self) -> subprocess.Popen:
        env = dict(os.environ, REDIS_URL=self.redis_url, DATABASE_URL=self.settings.database_url)
        return subprocess.Popen([sys.executable, "-m", "agentic_app.engine.runtime.worker",
                                 "--processes", "2", "--worker-class", "simple"],
                                cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=child_preexec)


class PoolWatch(threading.Thread):
    """Samples, every 20 ms, which runtimes have a live pool: by their supervisor process and
    by the RQ workers registered in Redis whose process is alive (grouped by the runtime whose
    supervisor is their ancestor). Records the owners seen per sample."""

    def __init__(self, redis_url: str, runtimes: dict[str, LocalRuntime]):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.runtimes = runtimes
        self.samples: list[tuple[frozenset[str], frozenset[str]]] = []
        self.halt = threading.Event()

    def _supervisors(self) -> dict[int, str]:
        pids = {}
        for name, runtime in self.runtimes.items():
            proc = runtime.supervisor
            if proc is not None and _alive(proc.pid):
                pids[proc.pid] = name
        return pids

    def _registered(self, supervisors: dict[int, str]) -> frozenset[str]:
        owners = set()
        for worker in Worker.all(connection=self.client):
            if not _alive(worker.pid):
                continue  # a registration left by a killed process is no running pool
            lineage = [worker.pid, *(p.pid for p in psutil.Process(worker.pid).parents())]
            owners.add(next((supervisors[p] for p in lineage if p in supervisors), "other"))
        return frozenset(owners)

    def run(self) -> None:
        while not self.halt.wait(0.02):
            try:
                supervisors = self._supervisors()
                registered = self._registered(supervisors)
            except psutil.NoSuchProcess:
                continue  # a process ended mid-sample
            self.samples.append((frozenset(supervisors.values()), registered))

    def owners(self) -> list[str]:
        """Pool owners in the order they were seen running (by their registered workers)."""
        seen: list[str] = []
        for _, registered in self.samples:
            for name in sorted(registered):
                if not seen or seen[-1] != name:
                    seen.append(name)
        return seen

    def registered_now(self) -> frozenset[str]:
        """Owners of the pools whose workers were registered at the last sample."""
        return self.samples[-1][1] if self.samples else frozenset()

    def assert_never_two(self) -> None:
        """No sample so far saw two pools (by supervisors or by registered workers)."""
        both = [sample for sample in self.samples if len(sample[0]) > 1 or len(sample[1]) > 1]
        assert not both, f"two pools at once: {both[:3]}"

    def wait(self, predicate, timeout: float, message: str) -> None:
        """Wait for ``predicate``, failing at once should two pools run meanwhile."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.assert_never_two()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {message}")
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cut(runtime: LocalRuntime, cut: bool) -> None:
    """Point the runtime's lease client (its own timeouts and retry policy) at a closed port,
    or back at the real Redis."""
    pool = runtime.lease.redis.connection_pool
    real = getattr(pool, "real_port", pool.connection_kwargs["port"])
    pool.real_port = real
    if cut:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    pool.connection_kwargs["port"] = port if cut else real
    pool.disconnect()
    pool.reset()  # new connections use the port set above


@pytest.mark.slow
def test_a_lost_lease_stops_the_pool_before_another_starts(redis_url, sqlite_db_url) -> None:
    """Two backend processes (runtimes with their real lease loops and real worker pools).
    The holder is cut off from Redis: it stops its pool before its lease expires, the other
    starts one only after that; then a third owner takes the lease from the new holder, which
    stops its pool at its next round. Pools are counted by supervisor processes and by the
    RQ workers registered in Redis: never two at any time."""
    settings = load_settings(DATABASE_URL=sqlite_db_url, REDIS_URL=redis_url)
    a, b = (PoolRuntime(settings, redis_url=redis_url, lease_ttl_s=6.0, lease_check_s=0.5)
            for _ in range(2))
    watch = PoolWatch(redis_url, {"a": a, "b": b})
    client = redis.Redis.from_url(redis_url)
    try:
        watch.start()
        a.run_lease()
        b.run_lease()
        watch.wait(lambda: watch.registered_now() == {"a"}
                   and len(Worker.all(connection=client)) == 2, 60, "a's pool registered")
        assert b.supervisor is None

        _cut(a, True)  # a loses its connection to Redis (its workers keep theirs)
        watch.wait(lambda: watch.registered_now() == {"b"}, 60, "b's pool registered")
        assert a.supervisor is None

        _cut(a, False)  # a is back; a third owner takes the lease from b
        stolen = time.monotonic()
        client.set(RUNTIME_LEASE_KEY, "intruder", px=3000)
        watch.wait(lambda: b.supervisor is None, 10, "b stopped its pool")
        assert time.monotonic() - stolen < b.lease_check_s + 5  # next round + stopping the pool
        watch.wait(lambda: watch.registered_now() in ({"a"}, {"b"}), 60, "a pool runs again")
    finally:
        for runtime in (a, b):
            runtime.stop()
        watch.halt.set()
        watch.join()
    watch.assert_never_two()
    assert len(watch.samples) > 100
    assert "other" not in watch.owners()
    assert watch.owners()[:2] == ["a", "b"]
